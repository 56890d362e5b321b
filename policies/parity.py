"""The parity check of an export: the exported policy against the run's own predictor.

Observations come from the env the run trained in (its kwargs and randomization), visited by
the run's policy itself, so the check covers the states a deployed policy meets. Both
predictors act on the same batch; the largest absolute difference of any action entry must
not exceed the tolerance (mjlab tests its ONNX export at the same 1e-5).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from sim2real.errors import RunError
from sim2real.policies.predictor import Predictor

__all__ = ["TOLERANCE", "Parity", "check_episode_parity", "check_parity", "collect_observations"]

TOLERANCE = 1e-5
EPISODE_PARITY_STEPS = 256


@dataclass(frozen=True)
class Parity:
    observations: int
    max_abs_diff: float
    tolerance: float

    def to_json(self) -> dict[str, Any]:
        return {
            "reference": "the run's deterministic SB3 predict (with its normalization)",
            "observations": self.observations,
            "max_abs_diff": self.max_abs_diff,
            "tolerance": self.tolerance,
        }


def collect_observations(
    env: gym.Env, predictor: Predictor, steps: int = 256, seed: int = 0
) -> np.ndarray:
    """``(steps, obs_dim)`` float32 observations of ``predictor`` acting deterministically in
    ``env``; reset with ``seed`` first, and again (continuing its RNG) after each episode."""
    observations = []
    observation, _ = env.reset(seed=seed)
    while len(observations) < steps:
        observations.append(np.asarray(observation, dtype=np.float32))
        action = predictor.predict(observation, deterministic=True)
        observation, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            observation, _ = env.reset()
    return np.stack(observations)


def check_parity(
    reference: Predictor,
    exported: Predictor,
    observations: np.ndarray,
    label: str,
    tolerance: float = TOLERANCE,
) -> Parity:
    """Compare the two predictors' actions; a mismatch is a :class:`RunError` with the numbers."""
    expected = np.asarray(reference.predict(observations, deterministic=True), np.float64)
    actual = np.asarray(exported.predict(observations, deterministic=True), np.float64)
    if actual.shape != expected.shape:
        raise RunError(
            f"parity check failed: {label} returns actions of shape {actual.shape}, the run "
            f"{expected.shape}; nothing was written"
        )
    diff = np.abs(actual - expected)
    worst = np.unravel_index(np.argmax(np.nan_to_num(diff, nan=np.inf)), diff.shape)
    largest = float(diff[worst])
    if not largest <= tolerance:  # NaN fails too
        row, column = worst
        raise RunError(
            f"parity check failed: {label} differs from the run's deterministic predict by "
            f"up to {largest:.3g} (tolerance {tolerance:g}) on {len(observations)} observations "
            f"from the env; worst: observation {row}, action {column}: {actual[worst]:.6g} vs "
            f"{expected[worst]:.6g}; nothing was written"
        )
    return Parity(len(observations), largest, tolerance)


def check_episode_parity(
    reference: Any, exported: Any, env: gym.Env, label: str, steps: int = EPISODE_PARITY_STEPS
) -> Parity:
    """For policies with memory (a history, an LSTM state): step both through the reference's
    own episodes, both reset at every episode start; the largest action difference must not
    exceed the tolerance, else a :class:`RunError` with the numbers and the step."""
    worst = 0.0
    observation, _ = env.reset(seed=0)
    reference.reset()
    exported.reset()
    for step in range(steps):
        expected = np.asarray(reference.predict(observation, deterministic=True), np.float64)
        actual = np.asarray(exported.predict(observation, deterministic=True), np.float64)
        difference = (
            float(np.max(np.abs(actual - expected))) if actual.shape == expected.shape else np.inf
        )
        if not difference <= TOLERANCE:
            raise RunError(
                f"parity check failed: {label} differs from the run's policy by {difference:.3g} "
                f"(tolerance {TOLERANCE:g}) at step {step} of its episodes; nothing was written"
            )
        worst = max(worst, difference)
        observation, _, terminated, truncated, _ = env.step(expected.astype(np.float32))
        if terminated or truncated:
            observation, _ = env.reset()
            reference.reset()
            exported.reset()
    return Parity(steps, worst, TOLERANCE)
