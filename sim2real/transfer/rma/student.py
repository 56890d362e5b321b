"""The deployable student: the adaptation module + the teacher's frozen policy body.

The student sees what a robot measures (the observation without privileged entries) and keeps
its own history of the last ``k`` raw observations and actions
(:class:`sim2real.policies.history.HistoryInput`, the layout of
:class:`sim2real.envs.wrappers.History`); it needs no privileged information and no reward.
The module reads the history with its observations normalized by the teacher's statistics.
:class:`StudentPolicy` is a :class:`sim2real.policies.predictor.Predictor` with memory
(``reset()`` at each episode start), so ``evaluate``, ``sweep`` and ``enjoy`` take an
adaptation run like any other.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from sim2real.errors import UserError
from sim2real.policies.history import HistoryInput
from sim2real.policies.normalization import Normalization, load_normalization
from sim2real.policies.weights import load_module_arrays
from sim2real.transfer.rma.layout import load_module_weights, module_file
from sim2real.transfer.rma.networks import AdaptationModule, body_actions, teacher_encoder

Scaler = Callable[[np.ndarray], np.ndarray]


def observed_statistics(
    normalization: Normalization | None, size: int
) -> tuple[np.ndarray, np.ndarray, float] | None:
    """``(mean, std, clip)`` of the first ``size`` entries (the deployable observation) in the
    teacher's statistics; None when the teacher did not normalize observations."""
    if normalization is None or not normalization.norm_obs:
        return None
    mean = normalization.obs_mean[:size]
    std = np.sqrt(normalization.obs_var[:size] + normalization.epsilon)
    return mean, std, float(normalization.clip_obs)


def observed_scaler(normalization: Normalization | None, size: int, steps: int = 1) -> Scaler:
    """Normalize ``(n, steps * size)`` observations (a history's observation part when
    ``steps > 1``) as the teacher's VecNormalize did; the identity without statistics."""
    statistics = observed_statistics(normalization, size)
    if statistics is None:
        return lambda obs: np.asarray(obs, np.float32)
    mean, std, clip = np.tile(statistics[0], steps), np.tile(statistics[1], steps), statistics[2]
    return lambda obs: np.clip((np.asarray(obs) - mean) / std, -clip, clip).astype(np.float32)


def history_scaler(normalization: Normalization | None, size: int, steps: int) -> Scaler:
    """Flat raw histories ``(n, steps * (size + act))`` -> the module's input: observations
    normalized, actions as they are."""
    scale = observed_scaler(normalization, size, steps)
    split = steps * size

    def scaled(flat: np.ndarray) -> np.ndarray:
        return np.concatenate([scale(flat[:, :split]), flat[:, split:]], axis=1).astype(np.float32)

    return scaled


class StudentPolicy(HistoryInput):
    """Acts from the observation and its own history: ``z = phi(history)``, action = body(o, z)."""

    def __init__(
        self,
        model: Any,
        module: AdaptationModule,
        normalization: Normalization | None = None,
        source: str = "<student>",
    ):
        self.model, self.module, self.normalization = model, module, normalization
        self.policy = model.policy
        size = teacher_encoder(self.policy).observation_size
        super().__init__(None, module.steps, size, model.action_space, source)
        teacher_space = model.observation_space
        self.observation_space = gym.spaces.Box(
            teacher_space.low[:size], teacher_space.high[:size], dtype=teacher_space.dtype
        )
        self.scale = observed_scaler(normalization, size)
        self.scale_history = history_scaler(normalization, size, module.steps)

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
        if weights.suffix == ".npz":  # a zoo entry: arrays, never unpickled
            load_module_arrays(module, weights, "the adaptation module its config builds")
        else:
            module.load_state_dict(load_module_weights(weights))
        return cls(model, module.to(model.device).eval(), normalization, source=str(weights))

    def latent(self, observations: np.ndarray) -> torch.Tensor:
        """Advance the history with raw ``observations (n, obs)``; the module's ``z``."""
        flat = self.scale_history(self.advance(observations))
        with torch.no_grad():
            return self.module(torch.as_tensor(flat, device=self.model.device))

    def act(
        self, observations: np.ndarray, deterministic: bool = True
    ) -> tuple[np.ndarray, torch.Tensor]:
        """Actions for raw ``observations (n, obs)`` and the module's ``z`` they were made with
        (a tensor); the history advances and remembers the actions."""
        batch = np.asarray(observations, dtype=np.float32)
        latent = self.latent(batch)
        normalized = torch.as_tensor(self.scale(batch), device=self.model.device)
        actions = body_actions(self.policy, normalized, latent, deterministic)
        self.remember(actions)
        return actions, latent

    def predict(self, observation: np.ndarray, deterministic: bool = True) -> np.ndarray:
        obs = np.asarray(observation, dtype=np.float32)
        single = obs.ndim == 1
        actions, _ = self.act(obs.reshape(1, -1) if single else obs, deterministic)
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
