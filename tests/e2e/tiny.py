"""Shared helpers of the end-to-end tests."""

from __future__ import annotations


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
