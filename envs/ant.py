"""``sim2real/Ant-v0``: pybullet_envs' AntBulletEnv-v0, as a walker's constants.

``mjcf/ant.xml``: a free-floating quadruped whose torso is the base, 28-D observation (four
feet), 8 joints at power 2.5; alive while the torso is above 0.26 m (its sphere's radius is
0.25: below that it scrapes the floor).
"""

from __future__ import annotations

from typing import ClassVar

from sim2real.envs.locomotion import WalkerEnv, walker_observation_names
from sim2real.envs.terrain import TerrainGrid

_LEGS = ("front_left", "front_right", "left_back", "right_back")


class AntEnv(WalkerEnv):
    model_file: ClassVar[str] = "ant.xml"
    torso: ClassVar[str] = "torso"
    massive_links: ClassVar[tuple[str, ...]] = (
        "torso",
        *(
            name
            for i, leg in enumerate(_LEGS, start=1)
            for name in (f"{leg}_leg", f"aux_{i}", f"{leg}_foot")
        ),
    )
    feet: ClassVar[tuple[str, ...]] = tuple(f"{leg}_foot" for leg in _LEGS)
    power: ClassVar[float] = 2.5
    alive_height: ClassVar[float] = 0.26
    action_names: ClassVar[tuple[str, ...]] = tuple(
        f"{joint}_{i}" for i in range(1, 5) for joint in ("hip", "ankle")
    )
    observation_names: ClassVar[tuple[str, ...]] = walker_observation_names(action_names, feet)
    # It walks in the plane, not along a line: a wider rough patch, 12 m across.
    terrain_grid: ClassVar[TerrainGrid | None] = TerrainGrid((64.0, 12.0), (30.0, 0.0), 0.25, 1.0)
