"""Periodic evaluation on nominal dynamics, under DR and on every target, with the transfer gap.

Each condition has its own vectorized env, built once and re-seeded with the same seed before
every evaluation, so successive points of a learning curve differ only by the policy (common
random numbers). When observations are normalized, the evaluation envs are ``VecNormalize``
wrappers in inference mode (``training=False, norm_reward=False``) whose statistics are copied
from the training env right before each evaluation; returns are always the raw env returns.

Results go to ``evaluations.json`` (learning curves, rewritten atomically after every
evaluation) and to TensorBoard: ``eval/<condition>/mean_return``, ``eval/<condition>/std_return``,
``gap/<condition>`` (``J_nominal - J_condition``) and ``gap_normalized/<condition>``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv, VecNormalize

from sim2real.callbacks.tensorboard import tensorboard_writer
from sim2real.evaluation.metrics import transfer_gap
from sim2real.io import write_json
from sim2real.policies.normalization import Normalization
from sim2real.runs import empty_evaluations
from sim2real.table import render_table

NOMINAL, DR = "nominal", "dr"
# Episodes of one condition run side by side in this many envs (batched policy calls).
MAX_EVAL_ENVS = 4


@dataclass(frozen=True)
class EvalCondition:
    """``randomization``: sampled at every reset (DR); ``target``: fixed shifted dynamics."""

    name: str
    description: str
    randomization: Any = None
    target: Any = None


def evaluation_conditions(config: Any) -> list[EvalCondition]:
    """Nominal, DR (when the config randomizes anything) and one condition per target."""
    conditions = [EvalCondition(NOMINAL, "nominal source dynamics")]
    if config.randomization.terms:
        conditions.append(EvalCondition(DR, "source DR distribution", config.randomization))
    # Target names are unique and never "nominal"/"dr" (checked when the config is loaded).
    for target in config.targets:
        conditions.append(EvalCondition(target.name, target.description, target=target))
    return conditions


def make_condition_env(
    env_id: str,
    env_kwargs: Mapping[str, Any],
    condition: EvalCondition,
    episodes: int,
    normalize_obs: bool,
    clip_obs: float,
) -> VecEnv:
    """A ``DummyVecEnv`` (Monitor-wrapped envs) for one condition, ``VecNormalize``d if needed."""

    def factory() -> gym.Env:
        env = gym.make(env_id, randomization=condition.randomization, **dict(env_kwargs))
        if condition.target is not None:
            from sim2real.targets import apply_target

            apply_target(env.unwrapped, condition.target)
        return Monitor(env)

    venv: VecEnv = DummyVecEnv([factory] * min(episodes, MAX_EVAL_ENVS))
    if normalize_obs:
        venv = VecNormalize(
            venv, training=False, norm_obs=True, norm_reward=False, clip_obs=clip_obs
        )
    return venv


def make_condition_envs(config: Any, conditions: Sequence[EvalCondition]) -> dict[str, VecEnv]:
    """One evaluation VecEnv per condition, as ``config`` (an ExperimentConfig) describes.

    A condition that fails (e.g. a spec that does not bind) closes the envs made before it.
    """
    envs: dict[str, VecEnv] = {}
    try:
        for condition in conditions:
            envs[condition.name] = make_condition_env(
                config.env.id,
                config.env.kwargs,
                condition,
                config.evaluation.episodes,
                config.normalize.observations,
                config.normalize.clip_obs,
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
    conditions: Sequence[EvalCondition],
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


def truncate_evaluations(history: dict[str, Any], max_timesteps: int) -> dict[str, Any]:
    """Drop evaluations after ``max_timesteps`` (written by a process killed after a checkpoint)."""
    keep = [i for i, step in enumerate(history.get("timesteps", [])) if step <= max_timesteps]
    return {
        **history,
        "timesteps": [history["timesteps"][i] for i in keep],
        "curves": {name: [curve[i] for i in keep] for name, curve in history["curves"].items()},
        "returns": {name: [rets[i] for i in keep] for name, rets in history["returns"].items()},
    }


class EvaluationCallback(BaseCallback):
    """Evaluates every ``freq_steps`` timesteps (0: only when :meth:`evaluate` is called)."""

    def __init__(
        self,
        envs: Mapping[str, VecEnv],
        episodes: int,
        deterministic: bool,
        seed: int,
        evaluations_path: Path,
        freq_steps: int = 0,
        history: dict[str, Any] | None = None,
        report: Callable[[str], None] | None = None,
    ):
        super().__init__()
        self.envs = dict(envs)
        self.episodes, self.deterministic, self.seed = episodes, deterministic, seed
        self.evaluations_path = Path(evaluations_path)
        self.freq_steps = freq_steps
        self.history = history if history is not None else empty_evaluations()
        self.history.update(episodes=episodes, deterministic=deterministic, seed=seed)
        self.report = report
        self.last: tuple[int, dict[str, np.ndarray]] | None = None
        self._next = 0

    def _on_training_start(self) -> None:
        if self.freq_steps > 0:
            self._next = (self.num_timesteps // self.freq_steps + 1) * self.freq_steps

    def _on_step(self) -> bool:
        if self.freq_steps > 0 and self.num_timesteps >= self._next:
            self.evaluate()
            self._next = (self.num_timesteps // self.freq_steps + 1) * self.freq_steps
        return True

    def evaluate(self) -> dict[str, np.ndarray]:
        """Evaluate now, record the point (JSON, TensorBoard) and return per-episode returns."""
        train_norm = self.model.get_vec_normalize_env()
        normalization = (
            Normalization.from_vec_normalize(train_norm)
            if train_norm is not None and train_norm.norm_obs
            else None
        )
        results = evaluate_conditions(
            self.model, self.envs, self.episodes, self.deterministic, self.seed, normalization
        )
        self._record(self.model.num_timesteps, results)
        self.last = (self.model.num_timesteps, results)
        return results

    def _record(self, step: int, results: Mapping[str, np.ndarray]) -> None:
        history = self.history
        history["timesteps"].append(step)
        for name, returns in results.items():
            history["curves"].setdefault(name, []).append(float(np.mean(returns)))
            history["returns"].setdefault(name, []).append(returns.tolist())
        write_json(self.evaluations_path, history)
        condition_gaps = gaps(results)
        writer = tensorboard_writer(self.logger)
        if writer is not None:
            for name, returns in results.items():
                writer.add_scalar(f"eval/{name}/mean_return", float(np.mean(returns)), step)
                writer.add_scalar(f"eval/{name}/std_return", float(np.std(returns)), step)
            for name, (gap, normalized) in condition_gaps.items():
                writer.add_scalar(f"gap/{name}", gap, step)
                if np.isfinite(normalized):
                    writer.add_scalar(f"gap_normalized/{name}", normalized, step)
            writer.flush()
        if self.report is not None:
            parts = [f"{name} {np.mean(returns):.1f}" for name, returns in results.items()]
            self.report(f"eval @ {step:,} steps: " + ", ".join(parts))

    def close(self) -> None:
        for venv in self.envs.values():
            venv.close()
