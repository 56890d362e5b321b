"""Channels: what happens to an action before the actuator and to an observation after it.

The env composes one :class:`ActionChannel` and the observation channels its layout supports,
in the order a sensor works: delay (what arrives is old), bias (miscalibration), noise.
Each takes its parameters from the episode's dynamics in :meth:`configure` (called
whenever values change, so interval terms apply mid-episode) and draws from the env's
``np_random`` in a fixed order, so a seed fixes every draw. Noise is ``std *
standard_normal()``: the numbers ``rng.normal(0, std)`` gives, without its per-call checks.
"""

from __future__ import annotations

import collections
from collections.abc import Mapping
from typing import Protocol

import numpy as np


class ObservationChannel(Protocol):
    def configure(self, values: Mapping[str, np.ndarray]) -> None: ...

    @property
    def active(self) -> bool:
        """Whether it changes the observation now (an idle one is skipped by the step loop)."""
        ...

    def reset(self, observation: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The first observation of an episode."""
        ...

    def __call__(self, observation: np.ndarray, rng: np.random.Generator) -> np.ndarray: ...


class ObservationDelay:
    """The policy sees the observation of ``round(observation_delay_s / control_dt)`` steps ago.

    A FIFO of observations; at reset it is filled with the first one (nothing older exists).
    A delay that changes mid-episode keeps what is in flight, as the actuator's latency does;
    one that starts mid-episode repeats the oldest observation until the FIFO is full.
    """

    def __init__(self, control_dt: float) -> None:
        self._control_dt = control_dt
        self._steps = 0
        self._pending: collections.deque[np.ndarray] = collections.deque()

    def configure(self, values: Mapping[str, np.ndarray]) -> None:
        self._steps = round(float(values["observation_delay_s"][0]) / self._control_dt)
        while len(self._pending) > self._steps:
            self._pending.popleft()
        while self._pending and len(self._pending) < self._steps:
            self._pending.appendleft(self._pending[0])

    @property
    def active(self) -> bool:
        return self._steps > 0

    def reset(self, observation: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        self._pending = collections.deque([observation] * self._steps)
        return observation

    def __call__(self, observation: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        self._pending.append(observation)
        if len(self._pending) > self._steps:
            return self._pending.popleft()
        # A delay set mid-episode from 0: nothing older exists yet, the oldest repeats.
        return self._pending[0]


class ObservationBias:
    """A constant offset per dimension (``observation_bias``), drawn with the episode."""

    def __init__(self) -> None:
        self._bias: np.ndarray | None = None

    def configure(self, values: Mapping[str, np.ndarray]) -> None:
        bias = values["observation_bias"]
        self._bias = bias if bias.any() else None

    @property
    def active(self) -> bool:
        return self._bias is not None

    def reset(self, observation: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return self(observation, rng)

    def __call__(self, observation: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return observation if self._bias is None else observation + self._bias


class ObservationNoise:
    """Zero-mean Gaussian noise with a std per dimension (``observation_noise_std``)."""

    def __init__(self) -> None:
        self._std: np.ndarray | None = None  # None: no noise, and no draw from the rng

    def configure(self, values: Mapping[str, np.ndarray]) -> None:
        std = values["observation_noise_std"]
        self._std = std if std.any() else None

    @property
    def active(self) -> bool:
        return self._std is not None

    def reset(self, observation: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return self(observation, rng)

    def __call__(self, observation: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if self._std is None:
            return observation
        return observation + rng.standard_normal(observation.shape) * self._std


class ActionChannel:
    """Gaussian noise per action dimension (``action_noise_std``), then clipping to the
    action space's bounds."""

    def __init__(self, low: np.ndarray, high: np.ndarray) -> None:
        self._std: np.ndarray | None = None
        # Bounds as arrays of the action's dtype: numpy clips to scalars on a slower path.
        self._low, self._high = np.asarray(low, np.float64), np.asarray(high, np.float64)

    def configure(self, values: Mapping[str, np.ndarray]) -> None:
        std = values["action_noise_std"]
        self._std = std if std.any() else None

    def __call__(self, action: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if self._std is not None:
            action = action + rng.standard_normal(action.shape) * self._std
        return action.clip(self._low, self._high)
