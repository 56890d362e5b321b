"""Domain-randomization logging: the dynamics each episode ran with and its reward terms.

:class:`EpisodeRecorder` (a gymnasium wrapper around each training env) adds, on an episode's
last step, ``info["episode_dynamics"]`` (``{"<parameter>/<element>": value}`` for every
randomized element; the time average when interval terms re-draw values mid-episode) and
``info["episode_reward_terms"]`` (``{term: episode sum}``). Putting this in the step info makes it
cross process boundaries with ``SubprocVecEnv`` like any other info.

:class:`DynamicsLogCallback` collects those infos and writes, every ``log_interval_steps``:
``dynamics/<parameter>/<element>`` (mean over the episodes that ended, a scalar),
``dynamics_hist/<parameter>/<element>`` (their histogram; TensorBoard needs a tag of its own
per plugin) and ``reward_terms/<term>`` (mean episode sum).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.callbacks import BaseCallback

from sim2real.callbacks.tensorboard import tensorboard_writer

DYNAMICS_KEY = "episode_dynamics"
REWARD_TERMS_KEY = "episode_reward_terms"


def randomized_elements(env: gym.Env) -> list[tuple[str, str, int]]:
    """``(tag, parameter, index)`` of every element the env's randomization spec touches."""
    base = env.unwrapped
    elements: list[tuple[str, str, int]] = []
    for bound in base.randomization.terms:
        parameter = bound.term.parameter
        names = base.layout.names(parameter)
        for index in bound.indices:
            tag = f"{parameter}/{names[int(index)]}"
            if all(tag != existing for existing, _, _ in elements):
                elements.append((tag, parameter, int(index)))
    return elements


class EpisodeRecorder(gym.Wrapper):
    """Summarizes each episode's dynamics and reward terms in its last step's info."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self._elements = randomized_elements(env)
        self._interval = bool(env.unwrapped.randomization.when("interval"))
        self._terms: dict[str, float] = {}
        self._dynamics_sum = np.zeros(len(self._elements))
        self._samples = 0

    def _read_dynamics(self) -> np.ndarray:
        values = self.env.unwrapped.dynamics_values
        return np.array([values[parameter][index] for _, parameter, index in self._elements])

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        observation, info = self.env.reset(**kwargs)
        self._terms = {}
        self._dynamics_sum = self._read_dynamics()
        self._samples = 1
        return observation, info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        observation, reward, terminated, truncated, info = self.env.step(action)
        for term, value in info.get("reward_terms", {}).items():
            self._terms[term] = self._terms.get(term, 0.0) + float(value)
        if terminated or truncated:
            means = self._dynamics_sum / self._samples
            info = {
                **info,
                DYNAMICS_KEY: {
                    tag: float(v) for (tag, _, _), v in zip(self._elements, means, strict=True)
                },
                REWARD_TERMS_KEY: dict(self._terms),
            }
        elif self._interval:  # values drawn mid-episode: average what each step ran with
            self._dynamics_sum = self._dynamics_sum + self._read_dynamics()
            self._samples += 1
        return observation, reward, terminated, truncated, info


class DynamicsLogCallback(BaseCallback):
    """Writes sampled dynamics and reward terms of finished episodes to TensorBoard."""

    def __init__(self, log_interval_steps: int = 2000):
        super().__init__()
        self.log_interval_steps = log_interval_steps
        self._dynamics: dict[str, list[float]] = defaultdict(list)
        self._terms: dict[str, list[float]] = defaultdict(list)
        self._last_write = 0

    def _on_training_start(self) -> None:
        self._last_write = self.num_timesteps

    def _on_step(self) -> bool:
        for info in self.locals.get("infos", ()):
            for tag, value in info.get(DYNAMICS_KEY, {}).items():
                self._dynamics[tag].append(value)
            for term, value in info.get(REWARD_TERMS_KEY, {}).items():
                self._terms[term].append(value)
        return True

    def _on_rollout_end(self) -> None:
        if self.num_timesteps - self._last_write >= self.log_interval_steps:
            self.write()

    def _on_training_end(self) -> None:
        self.write()

    def write(self) -> None:
        """Write what was collected since the last write (at the current timestep), then clear."""
        writer = tensorboard_writer(self.logger)
        if writer is not None and (self._dynamics or self._terms):
            step = self.num_timesteps
            for tag, values in self._dynamics.items():
                writer.add_scalar(f"dynamics/{tag}", float(np.mean(values)), step)
                writer.add_histogram(f"dynamics_hist/{tag}", np.asarray(values), step)
            for term, values in self._terms.items():
                writer.add_scalar(f"reward_terms/{term}", float(np.mean(values)), step)
            writer.flush()
        self._dynamics.clear()
        self._terms.clear()
        self._last_write = self.num_timesteps
