"""``sim2real/Hopper-v0``: pybullet_envs' HopperBulletEnv-v0, as a walker's constants.

Same model (``mjcf/hopper.xml``), scene, physics settings, observation (15-D) and reward as
``HopperBulletEnv-v0`` (pybullet-envs-gymnasium), so returns compare with the RL Baselines3
Zoo's: torque = 0.75 * 100 * motor strength * action; alive while the torso is above 0.8 m
and |pitch| < 1. Everything else is :class:`~sim2real.envs.locomotion.WalkerEnv`.
"""

from __future__ import annotations

from typing import ClassVar

from sim2real.envs.locomotion import DATA, LOAD_FLAGS, WalkerEnv, walker_observation_names

__all__ = ["DATA", "LOAD_FLAGS", "HopperEnv"]


class HopperEnv(WalkerEnv):
    model_file: ClassVar[str] = "hopper.xml"
    torso: ClassVar[str] = "torso"
    massive_links: ClassVar[tuple[str, ...]] = ("torso", "thigh", "leg", "foot")
    feet: ClassVar[tuple[str, ...]] = ("foot",)
    power: ClassVar[float] = 0.75
    alive_height: ClassVar[float] = 0.8
    alive_pitch: ClassVar[float] = 1.0
    action_names: ClassVar[tuple[str, ...]] = ("thigh_joint", "leg_joint", "foot_joint")
    observation_names: ClassVar[tuple[str, ...]] = walker_observation_names(action_names, feet)
