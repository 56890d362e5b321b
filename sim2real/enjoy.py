"""Watch a policy act: episodes with their return, length and dynamics, and their frames.

The policy is a run directory or an exported one (:func:`load_predictor`); it acts
deterministically in its own env (or ``env_id``), on nominal dynamics or a target's, made
headless with ``render_mode="rgb_array"`` (PyBullet's TinyRenderer) when frames are wanted.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from sim2real.envs import check_env_id
from sim2real.errors import UserError
from sim2real.evaluation.conditions import (
    NOMINAL_CONDITION,
    dynamics_changes,
    make_env,
    target_condition,
)
from sim2real.policies.predictor import Predictor, check_compatible, load_predictor
from sim2real.randomization import to_named
from sim2real.targets import Target

__all__ = ["Episode", "Viewing", "open_viewing"]


@dataclass(frozen=True)
class Episode:
    index: int
    total_return: float
    length: int
    dynamics: Mapping[str, Any]  # what differs from the env's nominal values
    frames: list[np.ndarray] = field(default_factory=list)  # one per step, and the first


@dataclass
class Viewing:
    """A policy in its env, ready to play episodes; :meth:`close` the env afterwards."""

    env_id: str
    env: gym.Env
    predictor: Predictor
    render: bool

    @property
    def fps(self) -> float:
        return 1.0 / self.env.unwrapped.control_dt

    def episodes(self, count: int, seed: int) -> Iterator[Episode]:
        """``count`` episodes; the first reset uses ``seed``, later ones continue its stream."""
        unwrapped = self.env.unwrapped
        nominal = to_named(unwrapped.nominal, unwrapped.layout)
        for index in range(count):
            observation, info = self.env.reset(seed=seed if index == 0 else None)
            if hasattr(self.predictor, "reset"):
                self.predictor.reset()
            frames = [self.env.render()] if self.render else []
            total, steps, done = 0.0, 0, False
            while not done:
                action = self.predictor.predict(observation, deterministic=True)
                observation, reward, terminated, truncated, _ = self.env.step(action)
                total, steps, done = total + float(reward), steps + 1, terminated or truncated
                if self.render:
                    frames.append(self.env.render())
            yield Episode(index, total, steps, dynamics_changes(nominal, info["dynamics"]), frames)

    def close(self) -> None:
        self.env.close()


def open_viewing(
    policy: str | Path,
    env_id: str | None = None,
    target: Target | None = None,
    render: bool = False,
) -> Viewing:
    """Load ``policy`` and make its env (the policy's own unless ``env_id``), checked to fit."""
    from sim2real.policies.exported import policy_config

    if env_id is not None:
        check_env_id(env_id, "--env")
    config = policy_config(policy)
    env_id = env_id or config.env.id
    kwargs = dict(config.env.kwargs) if env_id == config.env.id else {}
    if render:
        kwargs["render_mode"] = "rgb_array"
    if target is not None and target.env_id != env_id:
        raise UserError(f"{target.path}: field 'env_id' = {target.env_id!r}; the env is {env_id!r}")
    condition = target_condition(target) if target is not None else NOMINAL_CONDITION
    predictor = load_predictor(policy)
    env = make_env(env_id, condition, kwargs)
    try:
        check_compatible(predictor, env, str(policy), env_id, trained_on=config.env.id)
    except BaseException:
        env.close()
        raise
    return Viewing(env_id, env, predictor, render)
