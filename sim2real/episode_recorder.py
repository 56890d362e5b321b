"""What each training episode ran with: its dynamics and reward terms, in its last step's info.

:class:`EpisodeRecorder` (a gymnasium wrapper around each training env) adds, on an episode's
last step, ``info["episode_dynamics"]`` (``{"<parameter>/<element>": value}`` for every
randomized element; the time average when interval terms re-draw values mid-episode) and
``info["episode_reward_terms"]`` (``{term: episode sum}``). Putting this in the step info makes it
cross process boundaries with ``SubprocVecEnv`` like any other info;
:class:`sim2real.callbacks.DynamicsLogCallback` writes it to TensorBoard.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

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
