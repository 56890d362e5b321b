"""Control-period jitter: each control step lasts ``control_dt + u``, u ~ U(-jitter, jitter).

A real controller's period wanders with its scheduler; the policy still believes in the
nominal period. The physics steps of one control step share the perturbed period (PyBullet's
time step is set before them), and the nominal step is put back when an episode runs
without jitter. The draws come from the env's own seeded stream.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

PARAMETER = "control_jitter_s"


class ControlJitter:
    def __init__(self, client: Any, control_dt: float, physics_steps_per_action: int):
        self._set_time_step = client.setTimeStep
        self._control_dt = control_dt
        self._steps = physics_steps_per_action
        self.jitter_s = 0.0
        self._perturbed = False

    def configure(self, values: Mapping[str, np.ndarray]) -> None:
        self.jitter_s = float(values[PARAMETER][0]) if PARAMETER in values else 0.0
        if not self.jitter_s and self._perturbed:
            self._set_time_step(self._control_dt / self._steps)
            self._perturbed = False

    def next_period(self, rng: np.random.Generator) -> float:
        """Draw this control step's period (s) and set PyBullet's time step from it."""
        period = self._control_dt + rng.uniform(-self.jitter_s, self.jitter_s)
        self._set_time_step(period / self._steps)
        self._perturbed = True
        return period
