"""Gymnasium wrappers for policies that look back: a flat history of observations and actions.

Students, adaptation modules (RMA) and memory-free baselines of recurrent policies see the last
``k`` observations and the last ``k`` actions, oldest first, flattened into one vector; before
the episode has ``k`` steps the missing past is zeros. On a privileged env the privileged entries
are not history: the latest ones follow it (an asymmetric critic's input; the actor reads the
history before them). A wrapped env is a normal env, so ``check_env``, SB3 and the evaluators
take it as is.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from sim2real.errors import UserError
from sim2real.limits import HISTORY_STEPS
from sim2real.policies.history import HistoryBuffer

__all__ = ["History", "with_history_input"]


class History(gym.Wrapper):
    """Observation = [o_{t-k+1}, ..., o_t, a_{t-k}, ..., a_{t-1}, e_t] (flattened; ``e_t`` the
    privileged entries of a privileged env, none otherwise)."""

    def __init__(self, env: gym.Env, steps: int):
        maximum = HISTORY_STEPS.maximum
        if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= maximum:
            raise UserError(f"History: steps = {steps!r}; must be a whole number in [1, {maximum}]")
        observation_space, action_space = env.observation_space, env.action_space
        if not (isinstance(observation_space, spaces.Box) and isinstance(action_space, spaces.Box)):
            raise UserError("History: needs Box observation and action spaces")
        super().__init__(env)
        self.steps = steps
        privileged = len(getattr(env.unwrapped, "privileged_names", ()))
        self._observation_size = int(np.prod(observation_space.shape)) - privileged
        self._action_size = int(np.prod(action_space.shape))
        self.observation_space = spaces.Box(
            self._flat_bound(observation_space.low, action_space.low),
            self._flat_bound(observation_space.high, action_space.high),
            dtype=np.float32,
        )
        self._history = HistoryBuffer(
            steps, self._observation_size, self._action_size, privileged_size=privileged
        )

    def _flat_bound(self, observation: np.ndarray, action: np.ndarray) -> np.ndarray:
        """One bound of the flat observation: k observations' and k actions', then the
        privileged entries'."""
        observed, privileged = np.split(observation.ravel(), [self._observation_size])
        parts = [np.tile(observed, self.steps), np.tile(action.ravel(), self.steps), privileged]
        return np.concatenate(parts).astype(np.float32)

    def reset(self, **kwargs: Any) -> tuple[np.ndarray, dict[str, Any]]:
        observation, info = self.env.reset(**kwargs)
        self._history.start(0, np.asarray(observation, np.float32).ravel())
        return self._history.flat()[0], info

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        observation, reward, terminated, truncated, info = self.env.step(action)
        self._history.push(
            np.asarray(observation, np.float32).reshape(1, -1),
            np.asarray(action, np.float32).reshape(1, -1),
        )
        return self._history.flat()[0], float(reward), terminated, truncated, info


def with_history_input(env: gym.Env, steps: int) -> gym.Env:
    """The env as a policy of ``env.history_steps: steps`` reads it: wrapped in
    :class:`History`, or itself for 0 (see the config's ``env.history_steps``)."""
    return History(env, steps) if steps else env
