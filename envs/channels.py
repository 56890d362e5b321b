"""Channels: what happens to an action before the actuator and to an observation after it.

The env composes one :class:`ActionChannel` and a list of :class:`ObservationChannel` s.
Each takes its parameters from the episode's dynamics in :meth:`configure` (called
whenever values change, so interval terms apply mid-episode) and draws from the env's
``np_random`` in a fixed order, so a seed fixes every draw. Sensor delay and per-episode bias
are further observation channels of the same shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import numpy as np


class ObservationChannel(Protocol):
    def configure(self, values: Mapping[str, np.ndarray]) -> None: ...

    def reset(self, observation: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The first observation of an episode."""
        ...

    def __call__(self, observation: np.ndarray, rng: np.random.Generator) -> np.ndarray: ...


class ObservationNoise:
    """Zero-mean Gaussian noise with a std per dimension (``observation_noise_std``)."""

    def __init__(self) -> None:
        self._std: np.ndarray | None = None  # None: no noise, and no draw from the rng

    def configure(self, values: Mapping[str, np.ndarray]) -> None:
        std = values["observation_noise_std"]
        self._std = std if std.any() else None

    def reset(self, observation: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return self(observation, rng)

    def __call__(self, observation: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if self._std is None:
            return observation
        return observation + rng.normal(0.0, 1.0, observation.shape) * self._std


class ActionChannel:
    """Gaussian noise per action dimension (``action_noise_std``), then clipping to [-1, 1]."""

    def __init__(self) -> None:
        self._std: np.ndarray | None = None

    def configure(self, values: Mapping[str, np.ndarray]) -> None:
        std = values["action_noise_std"]
        self._std = std if std.any() else None

    def __call__(self, action: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if self._std is not None:
            action = action + rng.normal(0.0, 1.0, action.shape) * self._std
        return action.clip(-1.0, 1.0)
