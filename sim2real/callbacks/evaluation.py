"""Periodic evaluation on nominal dynamics, under DR and on every target, with the transfer gap.

The condition envs and the evaluation itself are :mod:`sim2real.evaluation.training_eval`'s.
Results go to ``evaluations.json`` (learning curves, rewritten atomically after every
evaluation) and to TensorBoard: ``eval/<condition>/mean_return``, ``eval/<condition>/std_return``,
``gap/<condition>`` (``J_nominal - J_condition``) and ``gap_normalized/<condition>``; with
``evaluation.video``, GIFs of a nominal and the hardest target's episode (callbacks/video.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.vec_env import VecEnv

from sim2real.callbacks.trigger import CheckOn, EveryNTimestepsOnGrid
from sim2real.callbacks.video import EvaluationVideos
from sim2real.errors import describe
from sim2real.evaluation.training_eval import evaluate_conditions, gaps
from sim2real.io import write_json
from sim2real.policies.normalization import Normalization
from sim2real.runs import empty_evaluations
from sim2real.tensorboard_log import tensorboard_writer


class EvaluationCallback(EveryNTimestepsOnGrid):
    """Evaluates every ``freq_steps`` timesteps (0: only when :meth:`evaluate` is called).

    By default the check comes after each step, inside a rollout, so the point at step t is
    the policy of the last update before it. ``check_on="rollout_start"`` evaluates after the
    update on every sample so far, so the point at step t is the policy trained on t samples.
    """

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
        check_on: CheckOn = "step",
        videos: EvaluationVideos | None = None,
        observe: Callable[[int, Mapping[str, np.ndarray]], None] | None = None,
    ):
        super().__init__(freq_steps, check_on=check_on)
        self.envs = dict(envs)
        self.episodes, self.deterministic, self.seed = episodes, deterministic, seed
        self.evaluations_path = Path(evaluations_path)
        self.history = history if history is not None else empty_evaluations()
        self.history.update(episodes=episodes, deterministic=deterministic, seed=seed)
        self.report = report
        self.videos = videos
        self.observe = observe  # e.g. a study reporting each point to its scheduler
        self.last: tuple[int, dict[str, np.ndarray]] | None = None

    def _on_event(self) -> bool:
        self.evaluate()
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
        if self.videos is not None:
            self._log_videos(normalization, results)
        if self.observe is not None:
            self.observe(self.model.num_timesteps, results)
        return results

    def _log_videos(self, normalization: Normalization | None, results: Mapping[str, Any]) -> None:
        writer = tensorboard_writer(self.logger)
        if writer is None or self.videos is None:
            return
        try:
            self.videos.log(
                writer, self.model, normalization, self.model.num_timesteps, gaps(results)
            )
        except Exception as error:  # a rendering problem must not end the training
            self.videos.close()
            self.videos = None
            if self.report is not None:
                self.report(f"evaluation videos stopped: {describe(error)}")

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
        if self.videos is not None:
            self.videos.close()
