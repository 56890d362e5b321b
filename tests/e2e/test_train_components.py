"""Pieces of training on their own, fast: device choice, normalization against SB3's
VecNormalize, the episode recorder, atomic checkpoints, evaluation history truncation."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

from sim2real.episode_recorder import EpisodeRecorder, randomized_elements
from sim2real.errors import UserError
from sim2real.io import write_json
from sim2real.policies.normalization import Normalization, load_normalization, save_normalization
from sim2real.runs import (
    META_FILE,
    Run,
    prune_checkpoints,
    remove_staging,
    save_checkpoint,
    truncate_evaluations,
)
from sim2real.training import select_device

CARTPOLE = "sim2real/CartPole-v0"
DR = "randomization/cartpole_dr.yaml"


def shipped(name: str) -> str:
    from sim2real.resources import shipped_dir

    return str(shipped_dir() / name)


# -- device ---------------------------------------------------------------------------------


@pytest.mark.parametrize("gpu", [False, True])
def test_auto_device(monkeypatch, gpu):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpu)
    device, why = select_device("PPO", "MlpPolicy", "auto", "c.yaml")
    assert device == "cpu" and "faster on CPU" in why
    assert select_device("RecurrentPPO", "MlpLstmPolicy", "auto", "c.yaml")[0] == "cpu"
    for off_policy in ("SAC", "TD3", "TQC"):
        assert select_device(off_policy, "MlpPolicy", "auto", "c.yaml")[0] == (
            "cuda" if gpu else "cpu"
        )
    assert select_device("PPO", "CnnPolicy", "auto", "c.yaml")[0] == ("cuda" if gpu else "cpu")
    assert select_device("SAC", "MlpPolicy", "cpu", "c.yaml")[0] == "cpu"


def test_cuda_requested_without_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(UserError, match=r"^c.yaml: field 'device' = 'cuda'; no CUDA GPU"):
        select_device("SAC", "MlpPolicy", "cuda", "c.yaml")


# -- normalization against VecNormalize ------------------------------------------------------


def trained_vec_normalize(steps: int = 300) -> VecNormalize:
    venv = VecNormalize(
        DummyVecEnv([lambda: gym.make(CARTPOLE, randomization=shipped(DR))] * 2),
        clip_obs=3.0,
        gamma=0.95,
    )
    venv.seed(0)
    venv.reset()
    rng = np.random.default_rng(0)
    for _ in range(steps):
        venv.step(rng.uniform(-1, 1, size=(2, 1)).astype(np.float32))
    return venv


def test_saved_statistics_normalize_exactly_like_vec_normalize(tmp_path):
    venv = trained_vec_normalize()
    raw = venv.get_original_obs()
    path = save_normalization(venv, tmp_path / "normalization.npz")
    loaded = load_normalization(path)
    np.testing.assert_array_equal(loaded.normalize_obs(raw), venv.normalize_obs(raw))
    assert (loaded.clip_obs, loaded.gamma) == (3.0, 0.95)
    assert loaded.ret_var == pytest.approx(float(venv.ret_rms.var))

    fresh = VecNormalize(DummyVecEnv([lambda: gym.make(CARTPOLE)] * 2), clip_obs=10.0)
    loaded.restore_into(fresh)
    np.testing.assert_array_equal(fresh.normalize_obs(raw), venv.normalize_obs(raw))
    np.testing.assert_array_equal(
        fresh.normalize_reward(np.array([1.0])), venv.normalize_reward(np.array([1.0]))
    )
    assert fresh.training  # restore_into keeps the wrapper's own mode

    inference = loaded.inference_env(DummyVecEnv([lambda: gym.make(CARTPOLE)]))
    assert not inference.training and not inference.norm_reward
    np.testing.assert_array_equal(inference.normalize_obs(raw), venv.normalize_obs(raw))
    for env in (venv, fresh, inference):
        env.close()


def test_restore_refuses_other_shapes_and_modes():
    stats = Normalization.from_vec_normalize(trained_vec_normalize(steps=5))
    wrong = VecNormalize(DummyVecEnv([lambda: gym.make("sim2real/Hopper-v0")]))
    with pytest.raises(ValueError, match=r"shape \(4,\).*\(15,\)"):
        stats.restore_into(wrong)
    no_obs = VecNormalize(DummyVecEnv([lambda: gym.make(CARTPOLE)]), norm_obs=False)
    with pytest.raises(ValueError, match="norm_obs"):
        stats.restore_into(no_obs)
    wrong.close()
    no_obs.close()


# -- episode recorder --------------------------------------------------------------------------


def test_episode_recorder_reports_the_episode_dynamics_and_reward_terms():
    env = EpisodeRecorder(gym.make(CARTPOLE, randomization=shipped(DR)))
    tags = [tag for tag, _, _ in randomized_elements(env)]
    assert "link_mass/pole" in tags and "gravity/z" in tags and "action_noise_std/force" not in tags
    _, info = env.reset(seed=3)
    at_reset = info["dynamics"]
    total, done, rng = 0.0, False, np.random.default_rng(0)
    while not done:
        _, reward, terminated, truncated, info = env.step(rng.uniform(-1, 1, 1))
        total += reward
        done = terminated or truncated
        assert ("episode_dynamics" in info) == done
    assert info["episode_reward_terms"] == {"alive": pytest.approx(total)}
    recorded = info["episode_dynamics"]
    assert list(recorded) == tags
    assert recorded["link_mass/pole"] == at_reset["link_mass"]["pole"]
    assert recorded["gravity/z"] == at_reset["gravity"]
    env.close()


def test_episode_recorder_averages_values_redrawn_mid_episode():
    spec = [
        {"parameter": "gravity", "range": [0.5, 1.5], "when": "interval", "interval_s": 0.02},
    ]
    env = EpisodeRecorder(gym.make(CARTPOLE, randomization=spec))
    env.reset(seed=0)
    seen = [env.unwrapped.dynamics_values["gravity"][0]]
    done = False
    while not done:
        _, _, terminated, truncated, info = env.step(np.zeros(1))
        done = terminated or truncated
        if not done:
            seen.append(env.unwrapped.dynamics_values["gravity"][0])
    assert len(set(seen)) > 1  # gravity really changed every step
    assert info["episode_dynamics"]["gravity/z"] == pytest.approx(np.mean(seen))
    env.close()


# -- checkpoints -------------------------------------------------------------------------------


@pytest.fixture
def tiny_model():
    venv = DummyVecEnv([lambda: gym.make(CARTPOLE)])
    model = PPO("MlpPolicy", venv, n_steps=32, batch_size=32, device="cpu")
    yield model
    model.env.close()


def make_run(path):
    path.mkdir()
    (path / "config.yaml").write_text("name: x\n")
    write_json(path / META_FILE, {"status": "running", "algorithm": "PPO"})
    return Run.open(path)


def test_a_failed_save_leaves_no_checkpoint(tmp_path, tiny_model, monkeypatch):
    run = make_run(tmp_path / "run")
    tiny_model.num_timesteps = 64

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(tiny_model, "get_vec_normalize_env", crash)  # after model.zip is written
    with pytest.raises(OSError):
        save_checkpoint(tiny_model, run.checkpoints_dir)
    assert run.latest_checkpoint() is None
    assert [p.name.startswith(".staging-") for p in run.checkpoints_dir.iterdir()] == [True]
    remove_staging(run)
    assert list(run.checkpoints_dir.iterdir()) == []


def test_checkpoints_are_complete_and_pruned(tmp_path, tiny_model):
    run = make_run(tmp_path / "run")
    for step in (10, 20, 30, 40):
        tiny_model.num_timesteps = step
        path = save_checkpoint(tiny_model, run.checkpoints_dir)
        assert save_checkpoint(tiny_model, run.checkpoints_dir) == path  # same step: kept
        prune_checkpoints(run, keep=2)
    assert [c.timesteps for c in run.checkpoints()] == [30, 40]
    loaded = PPO.load(run.latest_checkpoint() / "model.zip", device="cpu")
    assert loaded.num_timesteps == 40


# -- evaluation history ------------------------------------------------------------------------


def test_truncate_evaluations_drops_points_after_the_checkpoint():
    history = {
        "timesteps": [100, 200, 300],
        "curves": {"nominal": [1.0, 2.0, 3.0], "heavy": [0.5, 1.5, 2.5]},
        "returns": {"nominal": [[1], [2], [3]], "heavy": [[0.5], [1.5], [2.5]]},
        "episodes": 1,
    }
    cut = truncate_evaluations(history, 200)
    assert cut == {
        "timesteps": [100, 200],
        "curves": {"nominal": [1.0, 2.0], "heavy": [0.5, 1.5]},
        "returns": {"nominal": [[1], [2]], "heavy": [[0.5], [1.5]]},
        "episodes": 1,
    }
