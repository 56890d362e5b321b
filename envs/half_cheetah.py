"""``sim2real/HalfCheetah-v0``: pybullet_envs' HalfCheetahBulletEnv-v0, as a walker's constants.

``mjcf/half_cheetah.xml``: 26-D observation (contacts of all six leg links), 6 joints at power
0.90 with per-joint coefficients. Not alive (reward -1) when |pitch| >= 1 or a shin or thigh
touches the floor, but the episode never ends early: only the time limit stops it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from sim2real.envs.locomotion import WalkerEnv, walker_observation_names

# Contacts that mean a knee walk: the shins and thighs (feet are fine).
_KNEES = (1, 2, 4, 5)


class HalfCheetahEnv(WalkerEnv):
    model_file: ClassVar[str] = "half_cheetah.xml"
    torso: ClassVar[str] = "torso"
    massive_links: ClassVar[tuple[str, ...]] = (
        "torso", "bthigh", "bshin", "bfoot", "fthigh", "fshin", "ffoot"
    )  # fmt: skip
    feet: ClassVar[tuple[str, ...]] = ("ffoot", "fshin", "fthigh", "bfoot", "bshin", "bthigh")
    power: ClassVar[float] = 0.90
    joint_power_coefs: ClassVar[Mapping[str, float]] = {
        "bthigh": 120.0,
        "bshin": 90.0,
        "bfoot": 60.0,
        "fthigh": 140.0,
        "fshin": 60.0,
        "ffoot": 30.0,
    }
    alive_pitch: ClassVar[float] = 1.0
    terminates: ClassVar[bool] = False
    action_names: ClassVar[tuple[str, ...]] = (
        "bthigh", "bshin", "bfoot", "fthigh", "fshin", "ffoot"
    )  # fmt: skip
    observation_names: ClassVar[tuple[str, ...]] = walker_observation_names(action_names, feet)

    def alive(self, z: float, pitch: float) -> bool:
        knees_down = any(self._feet_contact[i] for i in _KNEES)
        return super().alive(z, pitch) and not knees_down
