"""Privileged observations for teacher policies and asymmetric critics.

With ``privileged=True`` an env appends to its observation, after the sensor channels (the
privileged part is exact):

- every randomized dynamics element, normalized to the spec's range (0 = the low end, 1 = the
  high end; a target outside the range gives values outside [0, 1]), named
  ``dr:<parameter>:<element>``;
- the robot's privileged state (e.g. the A1's base linear velocity), named
  ``privileged:<name>``.

The names are in ``env.unwrapped.privileged_names`` and in the env's
``metadata["privileged_observation_names"]``; the deployable part of the observation is the
first ``len(env.unwrapped.observation_names)`` entries. The layout is fixed when the env is
made: a later ``set_randomization`` keeps normalizing to the first spec's ranges.
``privileged=<spec>`` normalizes to that spec instead of the env's own: an evaluation env on
nominal dynamics or a target (no spec) then reads like the training envs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from sim2real.randomization import BoundSpec, DynamicsLayout
from sim2real.randomization.binding import value_bounds

# Normalized entries can leave [0, 1] on targets outside the training ranges; the
# observation space bounds them generously so checkers and learners see a finite box.
BOUND = 10.0


@dataclass(frozen=True)
class PrivilegedLayout:
    names: tuple[str, ...]
    parameters: tuple[str, ...]  # per dynamics entry
    indices: np.ndarray  # element index per dynamics entry
    low: np.ndarray
    span: np.ndarray  # high - low; 1 where the range has zero width

    @property
    def size(self) -> int:
        return len(self.names)

    def normalize(self, values: Mapping[str, np.ndarray]) -> np.ndarray:
        """The dynamics entries of ``values``, in [0, 1] inside the spec's ranges."""
        if not self.parameters:
            return np.zeros(0)
        raw = np.array(
            [values[p][i] for p, i in zip(self.parameters, self.indices.tolist(), strict=True)]
        )
        return (raw - self.low) / self.span


def privileged_layout(
    spec: BoundSpec,
    layout: DynamicsLayout,
    nominal: Mapping[str, np.ndarray],
    state_names: tuple[str, ...],
) -> PrivilegedLayout:
    """One entry per randomized element (the envelope of every term on it), then the state."""
    ranges: dict[tuple[str, int], tuple[float, float]] = {}
    for bound in spec.terms:
        parameter = bound.term.parameter
        lows, highs = value_bounds(bound.term, nominal[parameter][bound.indices])
        for index, low, high in zip(bound.indices.tolist(), lows, highs, strict=True):
            old_low, old_high = ranges.get((parameter, index), (low, high))
            ranges[(parameter, index)] = (min(old_low, low), max(old_high, high))
    keys = sorted(ranges, key=lambda key: (list(layout.elements).index(key[0]), key[1]))
    low = np.array([ranges[key][0] for key in keys])
    high = np.array([ranges[key][1] for key in keys])
    names = tuple(f"dr:{p}:{layout.elements[p][i]}" for p, i in keys)
    return PrivilegedLayout(
        names=names + tuple(f"privileged:{name}" for name in state_names),
        parameters=tuple(p for p, _ in keys),
        indices=np.array([i for _, i in keys], dtype=np.int64),
        low=low,
        span=np.where(high > low, high - low, 1.0),
    )
