"""``sim2real/Walker2D-v0``: pybullet_envs' Walker2DBulletEnv-v0, as a walker's constants.

``mjcf/walker2d.xml``: two legs in the plane, 22-D observation (two feet), 6 joints at power
0.40 (feet at power_coef 30); alive while the torso is above 0.8 m and |pitch| < 1.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from sim2real.envs.locomotion import WalkerEnv, walker_observation_names


class Walker2DEnv(WalkerEnv):
    model_file: ClassVar[str] = "walker2d.xml"
    torso: ClassVar[str] = "torso"
    massive_links: ClassVar[tuple[str, ...]] = (
        "torso", "thigh", "leg", "foot", "thigh_left", "leg_left", "foot_left"
    )  # fmt: skip
    feet: ClassVar[tuple[str, ...]] = ("foot", "foot_left")
    power: ClassVar[float] = 0.40
    joint_power_coefs: ClassVar[Mapping[str, float]] = {
        "foot_joint": 30.0,
        "foot_left_joint": 30.0,
    }
    alive_height: ClassVar[float] = 0.8
    alive_pitch: ClassVar[float] = 1.0
    action_names: ClassVar[tuple[str, ...]] = (
        "thigh_joint", "leg_joint", "foot_joint",
        "thigh_left_joint", "leg_left_joint", "foot_left_joint",
    )  # fmt: skip
    observation_names: ClassVar[tuple[str, ...]] = walker_observation_names(action_names, feet)
