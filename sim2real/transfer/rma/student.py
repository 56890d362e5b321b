"""The deployable student: the adaptation module + the teacher's frozen policy body.

The student sees what a robot measures (the observation without privileged entries) and keeps
its own history of the last ``k`` raw observations and actions
(:class:`sim2real.policies.history.HistoryInput`, the layout of
:class:`sim2real.envs.wrappers.History`); it needs no privileged information and no reward.
The module reads the history with its observations normalized by the teacher's statistics.
The body reads what the teacher's body read (:class:`BodyWindow`): the current observation,
or with ``env.history_steps: m`` the latest ``m`` observations and actions of that history (as
RMA's base policy reads ``x_t`` and ``a_{t-1}``; ``m <= k``).
:class:`StudentPolicy` is a :class:`sim2real.policies.predictor.Predictor` with memory
(``reset()`` at each episode start), so ``evaluate``, ``sweep`` and ``enjoy`` take an
adaptation run like any other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from sim2real.errors import UserError
from sim2real.policies.history import HistoryInput, window_indices, window_size
from sim2real.policies.normalization import Normalization, load_normalization
from sim2real.policies.weights import load_module_arrays
from sim2real.transfer.rma.layout import load_module_weights, module_file
from sim2real.transfer.rma.networks import AdaptationModule, body_actions, teacher_encoder

Scaler = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class BodyWindow:
    """What the teacher's body reads before ``z``: ``o_t`` (``steps`` 0), or the last ``steps``
    observations and actions (its config's ``env.history_steps``), in History's layout."""

    steps: int
    observation_size: int
    action_size: int

    @classmethod
    def of(cls, model: Any, steps: int) -> BodyWindow:
        """The window of a teacher ``model`` trained on ``env.history_steps: steps``."""
        read = teacher_encoder(model.policy).observation_size
        actions = int(np.prod(model.action_space.shape))
        if steps and (read % steps or read // steps <= actions):
            raise UserError(
                f"the teacher's body reads {read} entries: not a window of env.history_steps "
                f"= {steps} steps of observations and {actions} action entries; its run's "
                "config.yaml does not match its model"
            )
        return cls(steps, read // steps - actions if steps else read, actions)

    @property
    def size(self) -> int:
        return window_size(self.steps, self.observation_size, self.action_size)

    @property
    def latest(self) -> slice:
        """Where ``o_t`` lies in the window (and in the teacher's observation)."""
        start = max(self.steps - 1, 0) * self.observation_size
        return slice(start, start + self.observation_size)

    def indices(self, history_steps: int) -> np.ndarray:
        """The window's entries in a flat history of ``history_steps`` steps."""
        return window_indices(history_steps, self.steps, self.observation_size, self.action_size)


def observed_statistics(
    normalization: Normalization | None, entries: slice
) -> tuple[np.ndarray, np.ndarray, float] | None:
    """``(mean, std, clip)`` of these entries of the teacher's observation in its statistics;
    None when the teacher did not normalize observations."""
    if normalization is None or not normalization.norm_obs:
        return None
    mean = normalization.obs_mean[entries]
    std = np.sqrt(normalization.obs_var[entries] + normalization.epsilon)
    return mean, std, float(normalization.clip_obs)


def observed_scaler(normalization: Normalization | None, entries: slice, steps: int = 1) -> Scaler:
    """Normalize ``(n, steps * size)`` inputs (``size`` the entries', tiled ``steps`` times: a
    history's observation part) as the teacher's VecNormalize did those entries; the identity
    without statistics."""
    statistics = observed_statistics(normalization, entries)
    if statistics is None:
        return lambda obs: np.asarray(obs, np.float32)
    mean, std, clip = np.tile(statistics[0], steps), np.tile(statistics[1], steps), statistics[2]
    return lambda obs: np.clip((np.asarray(obs) - mean) / std, -clip, clip).astype(np.float32)


def history_scaler(normalization: Normalization | None, latest: slice, steps: int) -> Scaler:
    """Flat raw histories ``(n, steps * (obs + act))`` -> the module's input: observations
    normalized with the statistics of ``o_t``'s entries in the teacher's observation
    (``latest``), actions as they are."""
    scale = observed_scaler(normalization, latest, steps)
    split = steps * (latest.stop - latest.start)

    def scaled(flat: np.ndarray) -> np.ndarray:
        return np.concatenate([scale(flat[:, :split]), flat[:, split:]], axis=1).astype(np.float32)

    return scaled


class StudentPolicy(HistoryInput):
    """Acts from the observation and its own history: ``z = phi(history)``, action =
    body(window, z) (the window: ``o_t``, or the teacher's short history; see module doc)."""

    def __init__(
        self,
        model: Any,
        module: AdaptationModule,
        normalization: Normalization | None = None,
        source: str = "<student>",
        body_steps: int = 0,
    ):
        self.model, self.module, self.normalization = model, module, normalization
        self.policy = model.policy
        self.window = BodyWindow.of(model, body_steps)
        size = self.window.observation_size
        super().__init__(None, module.steps, size, model.action_space, source)
        latest, teacher_space = self.window.latest, model.observation_space
        self.observation_space = gym.spaces.Box(
            teacher_space.low[latest], teacher_space.high[latest], dtype=teacher_space.dtype
        )
        self.body_indices = self.window.indices(module.steps)
        self.scale_body = observed_scaler(normalization, slice(0, self.window.size))
        self.scale_history = history_scaler(normalization, latest, module.steps)

    @classmethod
    def from_run(cls, run_dir: str | Path, device: str = "cpu") -> StudentPolicy:
        """The student of an adaptation run: its final module, or the latest phase-2 one."""
        from sim2real.runs import Run

        run = Run.open(run_dir)
        config = run.config
        model_path, normalization_path = run.policy_files()
        model = run.load_model(path=model_path, device=device)
        normalization = (
            load_normalization(normalization_path) if normalization_path.is_file() else None
        )
        body_steps = config.env.history_steps
        module = build_module(model, config.adaptation, body_steps)
        weights = module_file(run.path)
        if weights is None:
            raise UserError(
                f"{run.path}: no adaptation module yet (phase {run.meta.get('phase')!r}); "
                f"continue it with: sim2real train --resume {run.path}"
            )
        if weights.suffix == ".npz":  # a zoo entry: arrays, never unpickled
            load_module_arrays(module, weights, "the adaptation module its config builds")
        else:
            module.load_state_dict(load_module_weights(weights))
        module = module.to(model.device).eval()
        return cls(model, module, normalization, source=str(weights), body_steps=body_steps)

    def latent(self, flat: np.ndarray) -> torch.Tensor:
        """The module's ``z`` of raw flat histories ``(n, k * (obs + act))``."""
        scaled = torch.as_tensor(self.scale_history(flat), device=self.model.device)
        with torch.no_grad():
            return self.module(scaled)

    def act(
        self, observations: np.ndarray, deterministic: bool = True
    ) -> tuple[np.ndarray, torch.Tensor]:
        """Actions for raw ``observations (n, obs)`` and the module's ``z`` they were made with
        (a tensor); the history advances and remembers the actions."""
        flat = self.advance(np.asarray(observations, dtype=np.float32))
        latent = self.latent(flat)
        window = self.scale_body(flat[:, self.body_indices])
        window = torch.as_tensor(window, device=self.model.device)
        actions = body_actions(self.policy, window, latent, deterministic)
        self.remember(actions)
        return actions, latent

    def predict(self, observation: np.ndarray, deterministic: bool = True) -> np.ndarray:
        obs = np.asarray(observation, dtype=np.float32)
        single = obs.ndim == 1
        actions, _ = self.act(obs.reshape(1, -1) if single else obs, deterministic)
        return actions[0] if single else actions


def build_module(model: Any, adaptation: Any, body_steps: int = 0) -> AdaptationModule:
    """An untrained adaptation module for the teacher ``model`` (trained on
    ``env.history_steps: body_steps``) and the config's section."""
    window = BodyWindow.of(model, body_steps)
    return AdaptationModule(
        window.observation_size,
        window.action_size,
        adaptation.history_steps,
        adaptation.latent_size,
        adaptation.module,
    ).to(model.device)
