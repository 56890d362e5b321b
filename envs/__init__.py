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
    EnvEntry(
        "sim2real/Walker2D-v0",
        "sim2real.envs.walker2d:Walker2DEnv",
        1000,
        "mjcf/walker2d.xml with pybullet_envs' Walker2DBulletEnv-v0 physics, observation, reward",
    ),
    EnvEntry(
        "sim2real/HalfCheetah-v0",
        "sim2real.envs.half_cheetah:HalfCheetahEnv",
        1000,
        "mjcf/half_cheetah.xml with pybullet_envs' HalfCheetahBulletEnv-v0 physics, "
        "observation, reward",
    ),
    EnvEntry(
        "sim2real/Ant-v0",
        "sim2real.envs.ant:AntEnv",
        1000,
        "mjcf/ant.xml with pybullet_envs' AntBulletEnv-v0 physics, observation and reward",
    ),
    EnvEntry(
        "sim2real/Reacher-v0",
        "sim2real.envs.reacher:ReacherEnv",
        150,
        "mjcf/reacher.xml with pybullet_envs' ReacherBulletEnv-v0 physics, observation, reward",
    ),
    EnvEntry(
        "sim2real/A1-v0",
        "sim2real.envs.a1:A1Env",
        1000,
        "Unitree A1 (a1/a1.urdf) tracking a velocity command: 50 Hz policy, 200 Hz PD loop",
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


def check_env_id(env_id: str, option: str) -> str:
    """``env_id`` if it is one of ours, else the one-line UserError naming ``option``."""
    from sim2real.errors import UserError

    if env_id not in env_ids():
        raise UserError(f"{option} {env_id!r} is not registered; valid: {', '.join(env_ids())}")
    return env_id


register_all()
