"""PyBullet worlds, registered with gymnasium under the ``sim2real/`` namespace."""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym


@dataclass(frozen=True)
class EnvEntry:
    env_id: str
    entry_point: str
    max_episode_steps: int
    description: str


REGISTRY: tuple[EnvEntry, ...] = (
    EnvEntry(
        "sim2real/CartPole-v0",
        "sim2real.envs.cartpole:CartPoleEnv",
        500,
        "cartpole.urdf balanced with a continuous force on the cart",
    ),
    EnvEntry(
        "sim2real/Hopper-v0",
        "sim2real.envs.hopper:HopperEnv",
        1000,
        "mjcf/hopper.xml with pybullet_envs' HopperBulletEnv-v0 physics, observation and reward",
    ),
)


def register_all() -> None:
    """Register every world once (importing sim2real calls this)."""
    for entry in REGISTRY:
        if entry.env_id not in gym.registry:
            gym.register(
                id=entry.env_id,
                entry_point=entry.entry_point,
                max_episode_steps=entry.max_episode_steps,
            )


def env_ids() -> tuple[str, ...]:
    return tuple(entry.env_id for entry in REGISTRY)


register_all()
