"""Rough terrain: a seeded random heightfield over the floor, drawn anew at every reset.

``terrain_roughness_m`` is the standard deviation of the heights. A world that declares a
:class:`TerrainGrid` gets one heightfield body, made the first time a roughness above zero
is asked for (so worlds that never use terrain pay nothing) and hidden under the floor in
the reset snapshot. At a reset with roughness above zero the heights are redrawn, written
into the same collision shape (``replaceHeightfieldIndex``: no new body, no new shape), the
field is raised into place and the flat floor lowered just under its lowest point, so the
ground inside the patch *is* the heightfield; the restored snapshot puts both back, which
makes a reset on flat ground cost nothing.

Heights are independent normal draws at the grid's vertices (PyBullet interpolates linearly
between them), zero on a flat pad around the spawn point so robots start standing, then
scaled so their standard deviation is exactly the roughness.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim2real.envs.bullet import pybullet

HIDDEN_Z = -10.0  # where the field waits, under the floor, while the ground is flat
# PyBullet keeps a heightfield's height range (its AABB, and the centre of its local frame)
# from when the shape was made, whatever data later replaces it: the shape is made spanning
# +-HEIGHT_BOUND_M, so the frame's origin is at height 0 and every later field fits inside.
HEIGHT_BOUND_M = 1.0
CLIP_STD = 4.0  # draws are clipped at 4 std: at the largest roughness (0.2 m) within 0.9 m
FLOOR_GAP_M = 0.005  # how far under the field's lowest point the floor is lowered


@dataclass(frozen=True)
class TerrainGrid:
    """Where a world's rough patch lies (metres, world frame, the spawn point at the origin)."""

    size_m: tuple[float, float]  # extent along x and y
    centre_m: tuple[float, float]
    cell_m: float  # distance between vertices
    pad_radius_m: float  # flat disc around the origin, where the robot starts

    @property
    def shape(self) -> tuple[int, int]:
        """Vertices along y and x."""
        return tuple(int(round(size / self.cell_m)) + 1 for size in self.size_m[::-1])

    def vertices(self) -> tuple[np.ndarray, np.ndarray]:
        """World x and y of every vertex, each of :attr:`shape`."""
        ny, nx = self.shape
        x = self.centre_m[0] + (np.arange(nx) - (nx - 1) / 2) * self.cell_m
        y = self.centre_m[1] + (np.arange(ny) - (ny - 1) / 2) * self.cell_m
        return np.meshgrid(x, y)

    @functools.cached_property
    def pad(self) -> np.ndarray:
        """Which vertices lie on the flat spawn pad (computed once)."""
        x, y = self.vertices()
        return x**2 + y**2 <= self.pad_radius_m**2


def draw_heights(grid: TerrainGrid, roughness_m: float, rng: np.random.Generator) -> np.ndarray:
    """Heights of :attr:`TerrainGrid.shape`: std exactly ``roughness_m``, zero on the pad."""
    heights = np.clip(rng.standard_normal(grid.shape), -CLIP_STD, CLIP_STD)
    heights[grid.pad] = 0.0
    return heights * (roughness_m / heights.std())


class Terrain:
    """The heightfield body of one world, and the floor it stands in for."""

    def __init__(self, client: Any, grid: TerrainGrid, floor: int):
        self.grid = grid
        self.floor = floor
        self._client = client
        ny, nx = grid.shape
        self._shape_args = {
            "shapeType": pybullet.GEOM_HEIGHTFIELD,
            "meshScale": [grid.cell_m, grid.cell_m, 1.0],
            "numHeightfieldRows": nx,  # PyBullet's rows run along x
            "numHeightfieldColumns": ny,
        }
        spanning = [0.0] * (nx * ny)
        spanning[0], spanning[-1] = -HEIGHT_BOUND_M, HEIGHT_BOUND_M
        self._shape = client.createCollisionShape(heightfieldData=spanning, **self._shape_args)
        self.body = client.createMultiBody(0, self._shape, basePosition=[0.0, 0.0, HIDDEN_Z])
        self.heights = np.zeros(grid.shape)

    def show(self, roughness_m: float, rng: np.random.Generator) -> None:
        """New heights in place of the flat floor, with the floor's contact properties."""
        client, grid = self._client, self.grid
        self.heights = draw_heights(grid, roughness_m, rng)
        client.createCollisionShape(
            heightfieldData=self.heights.ravel().tolist(),
            replaceHeightfieldIndex=self._shape,
            **self._shape_args,
        )
        client.resetBasePositionAndOrientation(
            self.body, [*grid.centre_m, 0.0], [0.0, 0.0, 0.0, 1.0]
        )
        client.resetBasePositionAndOrientation(
            self.floor, [0.0, 0.0, float(self.heights.min()) - FLOOR_GAP_M], [0.0, 0.0, 0.0, 1.0]
        )
        info = client.getDynamicsInfo(self.floor, -1)
        client.changeDynamics(
            self.body,
            -1,
            lateralFriction=info[1],
            restitution=info[5],
            rollingFriction=info[6],
            spinningFriction=info[7],
        )
