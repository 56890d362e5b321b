"""Evaluating the SB3 model of a training or transfer run: condition envs, returns, summary.

Each condition has its own vectorized env, built once and re-seeded with the same seed before
every evaluation, so successive points of a learning curve differ only by the policy (common
random numbers). When observations are normalized, the evaluation envs are ``VecNormalize``
wrappers in inference mode (``training=False, norm_reward=False``) whose statistics are copied
from the training env right before each evaluation; returns are always the raw env returns.
The run's ``summary.json`` holds the last evaluation with the gap of every condition to
nominal (``J_nominal - J_condition``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv, VecNormalize

from sim2real.envs.wrappers import with_history_input
from sim2real.evaluation.conditions import NOMINAL, Condition, make_env
from sim2real.evaluation.metrics import transfer_gap
from sim2real.policies.normalization import Normalization
from sim2real.table import render_table

if TYPE_CHECKING:
    from sim2real.config import ExperimentConfig

__all__ = [
    "MAX_EVAL_ENVS",
    "evaluate_conditions",
    "gaps",
    "make_condition_envs",
    "make_condition_vec_env",
    "summarize",
    "summary_table",
]

# Episodes of one condition run side by side in this many envs (batched policy calls).
MAX_EVAL_ENVS = 4


def make_condition_vec_env(
    env_id: str,
    env_kwargs: Mapping[str, Any],
    condition: Condition,
    episodes: int,
    normalize_obs: bool,
    clip_obs: float,
    history_steps: int,
) -> VecEnv:
    """A ``DummyVecEnv`` (Monitor-wrapped envs) for one condition, ``VecNormalize``d if needed;
    with ``history_steps``, each env's observation is its history (a history policy's input)."""
    factory = partial(_monitored_env, env_id, condition, dict(env_kwargs), history_steps)
    venv: VecEnv = DummyVecEnv([factory] * min(episodes, MAX_EVAL_ENVS))
    if normalize_obs:
        venv = VecNormalize(
            venv, training=False, norm_obs=True, norm_reward=False, clip_obs=clip_obs
        )
    return venv


def make_condition_envs(
    config: ExperimentConfig, conditions: Sequence[Condition]
) -> dict[str, VecEnv]:
    """One evaluation VecEnv per condition, as ``config`` describes.

    A condition that fails (e.g. a spec that does not bind) closes the envs made before it.
    """
    envs: dict[str, VecEnv] = {}
    try:
        for condition in conditions:
            envs[condition.name] = make_condition_vec_env(
                config.env.id,
                config.env.kwargs,
                condition,
                config.evaluation.episodes,
                config.normalize.observations,
                config.normalize.clip_obs,
                config.env.history_steps,
            )
    except BaseException:
        for venv in envs.values():
            venv.close()
        raise
    return envs


def evaluate_conditions(
    model: Any,
    envs: Mapping[str, VecEnv],
    episodes: int,
    deterministic: bool,
    seed: int,
    normalization: Normalization | None = None,
) -> dict[str, np.ndarray]:
    """Per-episode returns ``(episodes,)`` of ``model`` in every condition env."""
    results = {}
    for name, venv in envs.items():
        if isinstance(venv, VecNormalize) and normalization is not None:
            normalization.restore_into(venv)
        venv.seed(seed)
        returns, _ = evaluate_policy(
            model,
            venv,
            n_eval_episodes=episodes,
            deterministic=deterministic,
            return_episode_rewards=True,
        )
        results[name] = np.asarray(returns, dtype=np.float64)
    return results


def gaps(results: Mapping[str, np.ndarray]) -> dict[str, tuple[float, float]]:
    """``(absolute, normalized)`` transfer gap of every condition but nominal."""
    j_nominal = float(np.mean(results[NOMINAL]))
    return {
        name: tuple(transfer_gap(j_nominal, float(np.mean(returns))))
        for name, returns in results.items()
        if name != NOMINAL
    }


def summarize(
    results: Mapping[str, np.ndarray],
    conditions: Sequence[Condition],
    timesteps: int,
    deterministic: bool,
    seed: int,
) -> dict[str, Any]:
    """The ``summary.json`` content: per condition mean, std, returns and gap to nominal."""
    condition_gaps = gaps(results)
    table = {}
    for condition in conditions:
        returns = results[condition.name]
        gap, normalized = condition_gaps.get(condition.name, (0.0, 0.0))
        table[condition.name] = {
            "description": condition.description,
            "mean": float(np.mean(returns)),
            "std": float(np.std(returns)),
            "episodes": int(returns.size),
            "returns": returns.tolist(),
            "gap": gap,
            "gap_normalized": normalized,
        }
    return {
        "timesteps": timesteps,
        "deterministic": deterministic,
        "seed": seed,
        "gap_definition": "J_nominal - J_condition; normalized by |J_nominal|",
        "conditions": table,
    }


def summary_table(summary: Mapping[str, Any]) -> str:
    rows = []
    for name, row in summary["conditions"].items():
        is_nominal = name == NOMINAL
        normalized = row["gap_normalized"]
        rows.append(
            [
                name,
                row["mean"],
                row["std"],
                "-" if is_nominal else row["gap"],
                "-" if is_nominal or normalized is None else normalized,
            ]
        )
    headers = ["condition", "mean return", "std", "gap (J_nom - J)", "gap / |J_nom|"]
    return render_table(headers, rows)


def _monitored_env(
    env_id: str, condition: Condition, env_kwargs: dict[str, Any], history_steps: int
) -> gym.Env:
    return Monitor(with_history_input(make_env(env_id, condition, env_kwargs), history_steps))
