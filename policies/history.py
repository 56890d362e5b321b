"""Policies that read a history: the buffer, and a predictor that keeps it for them.

The layout is :class:`sim2real.envs.wrappers.History`'s: the last ``k`` observations and the
last ``k`` actions, oldest first, flattened as ``[o_{t-k+1}, ..., o_t, a_{t-k}, ..., a_{t-1}]``;
before the episode has ``k`` steps the missing past is zeros. A privileged observation's
entries (the episode's dynamics, a robot's privileged state: envs/privileged.py) are not part of
the history: the latest ones follow it, ``[history, e_t]``, so that the first entries are the
deployable input an asymmetric actor reads and the critic gets what it knows now. A policy
trained on such observations (a history-DR baseline, an exported RMA student) acts on the plain
observation through :class:`HistoryInput`, which builds the same vector step by step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from gymnasium import spaces

from sim2real.errors import UserError

if TYPE_CHECKING:
    from sim2real.policies.predictor import Predictor

__all__ = ["HistoryBuffer", "HistoryInput", "window_indices", "window_size", "with_history"]


def window_size(steps: int, observation_size: int, action_size: int) -> int:
    """Entries of the input of a policy on ``env.history_steps: steps``: its history, or the
    observation alone for 0."""
    return steps * (observation_size + action_size) if steps else observation_size


def window_indices(
    history_steps: int, steps: int, observation_size: int, action_size: int
) -> np.ndarray:
    """Where the input of a policy on ``env.history_steps: steps`` (0: ``o_t`` alone) lies in
    a flat history of ``history_steps >= steps``: its latest ``steps`` observations, then its
    latest ``steps`` actions, so that ``flat[:, indices]`` has the shorter history's layout.
    (An RMA student's body reads its teacher's short history out of the module's long one.)"""
    if not 0 <= steps <= history_steps:
        raise ValueError(f"a window of {steps} steps in a history of {history_steps}")
    split = history_steps * observation_size
    kept = max(steps, 1)
    observations = np.arange(split - kept * observation_size, split)
    if not steps:
        return observations
    first_action = split + (history_steps - steps) * action_size
    actions = np.arange(first_action, split + history_steps * action_size)
    return np.concatenate([observations, actions])


class HistoryBuffer:
    """The last ``k`` observations and actions of ``envs`` episodes side by side.

    Observations come in with ``privileged_size`` privileged entries last (0: none); only the
    latest of those is kept, after the history."""

    def __init__(
        self,
        steps: int,
        observation_size: int,
        action_size: int,
        envs: int = 1,
        privileged_size: int = 0,
    ):
        self.observations = np.zeros((envs, steps, observation_size), np.float32)
        self.actions = np.zeros((envs, steps, action_size), np.float32)
        self.privileged = np.zeros((envs, privileged_size), np.float32)

    @property
    def envs(self) -> int:
        return self.observations.shape[0]

    def start(self, index: int, observation: np.ndarray) -> None:
        """A new episode in env ``index`` whose first observation is ``observation``."""
        self.observations[index] = 0.0
        self.actions[index] = 0.0
        self.observations[index, -1], self.privileged[index] = self._split(observation)

    def push(self, observations: np.ndarray, actions: np.ndarray) -> None:
        """Every env took ``actions`` (n, act) and now observes ``observations`` (n, obs)."""
        self.actions = np.roll(self.actions, -1, axis=1)
        self.actions[:, -1] = actions
        self.observations = np.roll(self.observations, -1, axis=1)
        self.observations[:, -1], self.privileged = self._split(observations)

    def flat(self) -> np.ndarray:
        """``(envs, k * obs + k * act + privileged)``: observations oldest first, then actions,
        then the latest privileged entries."""
        return np.concatenate(
            [
                self.observations.reshape(self.envs, -1),
                self.actions.reshape(self.envs, -1),
                self.privileged,
            ],
            axis=1,
        )

    def _split(self, observations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The deployable part and the privileged entries of observations (..., obs + priv)."""
        size = self.observations.shape[-1]
        return observations[..., :size], np.array(observations[..., size:], np.float32)


class HistoryInput:
    """A predictor on plain observations for an ``inner`` one that reads the flat history.

    One observation ``(obs,)`` or a batch ``(n, obs)`` of parallel episodes per call, as any
    predictor; ``reset()`` starts new episodes, in every row of a batch at once (rollouts call
    it at every episode start).
    """

    def __init__(
        self,
        inner: Any,
        steps: int,
        observation_size: int,
        action_space: spaces.Box,
        source: str = "<history policy>",
        privileged_size: int = 0,
    ):
        self.inner, self.steps, self.source = inner, steps, source
        self.observation_size, self.privileged_size = observation_size, privileged_size
        self.action_size = int(np.prod(action_space.shape))
        total = observation_size + privileged_size  # what the env gives it each step
        self.observation_space = spaces.Box(-np.inf, np.inf, (total,), np.float32)
        self.action_space = action_space
        self.reset()

    def reset(self) -> None:
        self.history: HistoryBuffer | None = None
        self._last_actions: np.ndarray | None = None

    def advance(self, observations: np.ndarray) -> np.ndarray:
        """Add ``observations (n, obs)`` (after the last actions); the flat histories."""
        batch = observations.shape[0]
        if self.history is None or self.history.envs != batch or self._last_actions is None:
            self.history = HistoryBuffer(
                self.steps, self.observation_size, self.action_size, batch, self.privileged_size
            )
            for index in range(batch):
                self.history.start(index, observations[index])
        else:
            self.history.push(observations, self._last_actions)
        return self.history.flat()

    def remember(self, actions: np.ndarray) -> None:
        """The actions just returned: the next call's history ends with them."""
        self._last_actions = np.asarray(actions, np.float32).reshape(-1, self.action_size)

    def predict(self, observation: np.ndarray, deterministic: bool = True) -> np.ndarray:
        obs = np.asarray(observation, dtype=np.float32)
        single = obs.ndim == 1
        flat = self.advance(obs.reshape(1, -1) if single else obs)
        actions = np.asarray(self.inner.predict(flat, deterministic=deterministic))
        self.remember(actions)
        return actions[0] if single else actions


def with_history(inner: Any, steps: int) -> Predictor:
    """``inner`` (a predictor on the flat history of ``steps`` steps) acting on plain
    observations; ``inner`` itself when ``steps`` is 0. The privileged entries that end an
    asymmetric model's input (its actor does not read them) or an RMA teacher's (its encoder
    does) are not history."""
    if not steps:
        return inner
    action_size = int(np.prod(inner.action_space.shape))
    total = int(np.prod(inner.observation_space.shape))
    flat = _before_privileged(getattr(inner, "model", inner), total)
    observation_size, remainder = divmod(flat - steps * action_size, steps)
    if remainder or observation_size < 1:
        raise UserError(
            f"{inner.source}: a policy input of {flat} entries is not a history of "
            f"{steps} steps of observations and {action_size} action entries"
        )
    return HistoryInput(
        inner, steps, observation_size, inner.action_space, inner.source, total - flat
    )


def _before_privileged(model: Any, total: int) -> int:
    """How many of a model's ``total`` input entries come before its privileged ones."""
    from sim2real.policies.asymmetric import DeployableObservation, actor_extractor
    from sim2real.transfer.rma.networks import PrivilegedEncoder

    extractor = actor_extractor(model)
    if isinstance(extractor, DeployableObservation):
        return extractor.size
    if isinstance(extractor, PrivilegedEncoder):
        return extractor.observation_size
    return total
