"""Bundles reproduce the SB3 model's deterministic actions without torch or pickles."""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import pytest
import torch
from sb3_contrib import TQC
from stable_baselines3 import PPO, SAC, TD3

from sim2real.errors import UserError
from sim2real.policies.bundle import export_bundle, load_bundle


def small(**extra):
    """Fresh policy_kwargs each time: SB3 adds keys to the dict it is given."""
    return {"net_arch": [16, 16], **extra}


@dataclass
class Stats:
    obs_mean: np.ndarray
    obs_var: np.ndarray
    clip_obs: float = 5.0
    epsilon: float = 1e-8


@pytest.mark.parametrize(
    ("algorithm", "kwargs"),
    [
        (PPO, {"policy_kwargs": small(activation_fn=torch.nn.ReLU)}),
        (PPO, {"use_sde": True, "policy_kwargs": small()}),
        (SAC, {"use_sde": True, "policy_kwargs": small()}),
        (SAC, {"policy_kwargs": small()}),
        (TD3, {"policy_kwargs": small()}),
        (TQC, {"policy_kwargs": small(n_critics=1)}),
    ],
)
def test_bundle_matches_model_predict(algorithm, kwargs, tmp_path):
    env = gym.make("Pendulum-v1")
    model = algorithm("MlpPolicy", env, seed=0, device="cpu", **kwargs)
    observations = np.random.default_rng(0).uniform(-1, 1, size=(64, 3)).astype(np.float32)
    expected, _ = model.predict(observations, deterministic=True)
    bundle = load_bundle(export_bundle(model, tmp_path / "bundle", "Pendulum-v1"))
    np.testing.assert_allclose(bundle.predict(observations), expected, atol=1e-5)
    np.testing.assert_allclose(bundle.predict(observations[0]), expected[0], atol=1e-5)


def test_bundle_applies_observation_normalization(tmp_path):
    model = PPO("MlpPolicy", gym.make("Pendulum-v1"), seed=0, device="cpu", policy_kwargs=small())
    stats = Stats(np.array([0.5, -0.2, 1.0]), np.array([4.0, 0.25, 9.0]))
    bundle = load_bundle(export_bundle(model, tmp_path / "b", "Pendulum-v1", stats))
    raw = np.array([[1.0, 0.3, 40.0]], dtype=np.float32)
    normalized = np.clip((raw - stats.obs_mean) / np.sqrt(stats.obs_var + 1e-8), -5, 5)
    expected, _ = model.predict(normalized.astype(np.float32), deterministic=True)
    np.testing.assert_allclose(bundle.predict(raw), expected, atol=1e-5)
    assert not any(f.suffix == ".pkl" for f in (tmp_path / "b").iterdir())


def test_export_refuses_to_overwrite_and_load_rejects_non_bundles(tmp_path):
    model = PPO("MlpPolicy", gym.make("Pendulum-v1"), device="cpu", policy_kwargs=small())
    export_bundle(model, tmp_path / "b", "Pendulum-v1")
    with pytest.raises(UserError, match="already exists"):
        export_bundle(model, tmp_path / "b", "Pendulum-v1")
    with pytest.raises(UserError, match="not a policy bundle"):
        load_bundle(tmp_path)


def test_export_verb_writes_a_bundle_that_matches_the_run(tmp_path):
    from sim2real.cli import main
    from sim2real.config import load_config, resolve_config_path
    from sim2real.runs import Run
    from sim2real.training import train

    config = load_config(
        resolve_config_path("cartpole_nominal.yaml"),
        [
            "total_timesteps=512",
            "n_envs=2",
            "evaluation.freq_steps=0",
            "checkpoint.freq_steps=0",
            "normalize.observations=true",
            "evaluation.episodes=1",
            "targets=[]",
        ],
    )
    run = train(config, tmp_path / "run", progress_bar=False, verbose=False)
    assert main(["export", str(run.path), "--out", str(tmp_path / "bundle")]) == 0
    bundle = load_bundle(tmp_path / "bundle")
    assert bundle.metadata["normalized_observations"]
    model = Run.open(run.path).load_model()
    from sim2real.policies.normalization import load_normalization

    stats = load_normalization(run.path / "normalization.npz")
    observations = np.random.default_rng(1).normal(size=(16, 4))
    expected, _ = model.predict(
        stats.normalize_obs(observations).astype(np.float32), deterministic=True
    )
    np.testing.assert_allclose(bundle.predict(observations), expected, atol=1e-5)
