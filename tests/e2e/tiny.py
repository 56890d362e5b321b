"""Shared helpers of the end-to-end tests."""

from __future__ import annotations

from typing import Any

import numpy as np


def tiny_ppo(**changes) -> dict:
    """PPO on the DR CartPole, one target, two envs, normalization on, a linear LR schedule."""
    config = {
        "name": "tiny",
        "env": {"id": "sim2real/CartPole-v0"},
        "randomization": "randomization/cartpole_dr.yaml",
        "targets": ["targets/cartpole_heavy.yaml"],
        "algorithm": {
            "name": "PPO",
            "hyperparams": {
                "n_steps": 256,
                "batch_size": 128,
                "n_epochs": 2,
                "learning_rate": "lin_1e-3",
                "policy_kwargs": {"net_arch": [32, 32]},
            },
        },
        "n_envs": 2,
        "normalize": {"observations": True, "rewards": True},
        "total_timesteps": 4096,
        "seed": 0,
        "evaluation": {"freq_steps": 2048, "episodes": 2},
        "checkpoint": {"freq_steps": 2048, "keep": 2},
    }
    config.update(changes)
    return config


def assert_acts_alike(predictor: Any, reference: Any, env: Any, steps: int, seed: int) -> None:
    """``predictor`` acts as ``reference`` (within 1e-5) along ``steps`` steps of the
    reference's own episode in ``env``, each keeping its state or history; closes ``env``."""
    try:
        observation, _ = env.reset(seed=seed)
        for _ in range(steps):
            expected = reference.predict(observation)
            np.testing.assert_allclose(predictor.predict(observation), expected, atol=1e-5)
            observation, *_ = env.step(expected)
    finally:
        env.close()
