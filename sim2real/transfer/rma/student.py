"""The deployable student: the adaptation module + the teacher's frozen policy body.

The student sees what a robot measures (the observation without privileged entries) and keeps
its own history of the last ``k`` observations and actions; it needs no privileged information
and no reward. :class:`StudentPolicy` is a :class:`sim2real.policies.predictor.Predictor`
with memory (``reset()`` at each episode start), so ``evaluate``, ``sweep`` and ``enjoy``
take an adaptation run like any other.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from sim2real.errors import UserError
from sim2real.policies.normalization import Normalization, load_normalization
from sim2real.transfer.rma.layout import load_module_weights, module_file
from sim2real.transfer.rma.networks import AdaptationModule, body_actions, teacher_encoder


class HistoryBuffer:
    """The last ``k`` observations and actions of ``envs`` episodes side by side, laid out as
    :class:`sim2real.envs.wrappers.History` lays them out (missing past = zeros)."""

    def __init__(self, steps: int, observation_size: int, action_size: int, envs: int = 1):
        self.observations = np.zeros((envs, steps, observation_size), np.float32)
        self.actions = np.zeros((envs, steps, action_size), np.float32)

    @property
    def envs(self) -> int:
        return self.observations.shape[0]

    def start(self, index: int, observation: np.ndarray) -> None:
        """A new episode in env ``index`` whose first observation is ``observation``."""
        self.observations[index] = 0.0
        self.actions[index] = 0.0
        self.observations[index, -1] = observation

    def push(self, observations: np.ndarray, actions: np.ndarray) -> None:
        """Every env took ``actions`` (n, act) and now observes ``observations`` (n, obs)."""
        self.actions = np.roll(self.actions, -1, axis=1)
        self.actions[:, -1] = actions
        self.observations = np.roll(self.observations, -1, axis=1)
        self.observations[:, -1] = observations

    def flat(self) -> np.ndarray:
        """``(envs, k * obs + k * act)``: observations oldest first, then actions."""
        return np.concatenate(
            [self.observations.reshape(self.envs, -1), self.actions.reshape(self.envs, -1)], axis=1
        )


def observed_scaler(normalization: Normalization | None, size: int) -> Any:
    """Normalize the first ``size`` entries (the deployable observation) with the teacher's
    statistics; identity when the teacher did not normalize observations."""
    if normalization is None or not normalization.norm_obs:
        return lambda obs: np.asarray(obs, np.float32)
    mean, std = (
        normalization.obs_mean[:size],
        np.sqrt(normalization.obs_var[:size] + normalization.epsilon),
    )
    clip = normalization.clip_obs
    return lambda obs: np.clip((np.asarray(obs) - mean) / std, -clip, clip).astype(np.float32)


class StudentPolicy:
    """Acts from the observation and its own history: ``z = phi(history)``, action = body(o, z)."""

    def __init__(
        self,
        model: Any,
        module: AdaptationModule,
        normalization: Normalization | None = None,
        source: str = "<student>",
    ):
        self.model, self.module, self.source = model, module, source
        self.policy = model.policy
        encoder = teacher_encoder(self.policy)
        self.observation_size = encoder.observation_size
        teacher_space = model.observation_space
        self.observation_space = gym.spaces.Box(
            teacher_space.low[: self.observation_size],
            teacher_space.high[: self.observation_size],
            dtype=teacher_space.dtype,
        )
        self.action_space: gym.spaces.Space = model.action_space
        self.scale = observed_scaler(normalization, self.observation_size)
        self.reset()

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
        module = build_module(model, config.adaptation)
        weights = module_file(run.path)
        if weights is None:
            raise UserError(
                f"{run.path}: no adaptation module yet (phase {run.meta.get('phase')!r}); "
                f"continue it with: sim2real train --resume {run.path}"
            )
        module.load_state_dict(load_module_weights(weights))
        return cls(model, module.to(model.device).eval(), normalization, source=str(weights))

    def reset(self) -> None:
        """Forget the history: the next call starts a new episode."""
        self.history: HistoryBuffer | None = None
        self._last_actions: np.ndarray | None = None

    def latent(self, observations: np.ndarray) -> torch.Tensor:
        """Advance the history with normalized ``observations (n, obs)``; the module's ``z``."""
        batch = observations.shape[0]
        if self.history is None or self.history.envs != batch or self._last_actions is None:
            self.history = HistoryBuffer(
                self.module.steps, self.observation_size, self.module.action_size, batch
            )
            for index in range(batch):
                self.history.start(index, observations[index])
        else:
            self.history.push(observations, self._last_actions)
        flat = torch.as_tensor(self.history.flat(), device=self.model.device)
        with torch.no_grad():
            return self.module(flat)

    def predict(self, observation: np.ndarray, deterministic: bool = True) -> np.ndarray:
        obs = np.asarray(observation, dtype=np.float32)
        single = obs.ndim == 1
        normalized = self.scale(obs.reshape(1, -1) if single else obs)
        latent = self.latent(normalized)
        tensor = torch.as_tensor(normalized, device=self.model.device)
        actions = body_actions(self.policy, tensor, latent, deterministic)
        self._last_actions = np.asarray(actions, np.float32).reshape(normalized.shape[0], -1)
        return actions[0] if single else actions


def build_module(model: Any, adaptation: Any) -> AdaptationModule:
    """An untrained adaptation module for the teacher ``model`` and the config's section."""
    encoder = teacher_encoder(model.policy)
    action_size = int(np.prod(model.action_space.shape))
    return AdaptationModule(
        encoder.observation_size,
        action_size,
        adaptation.history_steps,
        adaptation.latent_size,
        adaptation.module,
    ).to(model.device)
