"""One run lifecycle for ``train`` and ``transfer``: from the learn call to run.json's last word.

A verb builds its envs, model and run directory, subclasses :class:`RunLifecycle` for what
its runs keep and say, and calls :meth:`RunLifecycle.learn` inside :func:`torch_threads`
(``training._Training``, ``transfer.target_learning._Transfer``).

:meth:`RunLifecycle.learn` logs to the run's ``tb/``, shows the progress bar, turns the first
SIGINT/SIGTERM into a stop at the next step and then either ends an interrupted run (what the
verb keeps, the final model, ``status: interrupted`` with the signal) or finishes it (final
model, a last evaluation unless one was taken at the final step, ``summary.json``,
``status: finished``, the summary table). Signals that arrive while it ends or finishes only
request a stop, so the run's files are complete. An exception (e.g. a second signal) marks
the run interrupted and propagates.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.vec_env import VecEnv

from sim2real.callbacks import (
    DynamicsLogCallback,
    EvaluationCallback,
    ProgressCallback,
    StopOnSignalCallback,
)
from sim2real.callbacks.trigger import CheckOn
from sim2real.config import ExperimentConfig
from sim2real.evaluation.conditions import Condition
from sim2real.evaluation.training_eval import summarize, summary_table
from sim2real.io import write_json
from sim2real.runs import Run, now_iso, save_final_model
from sim2real.tensorboard_log import tensorboard_logger

__all__ = ["EVAL_SEED_OFFSET", "RunLifecycle", "torch_threads"]

# Evaluation episodes are seeded away from the training envs' seeds (seed .. seed + n_envs).
EVAL_SEED_OFFSET = 1_000_000


@contextmanager
def torch_threads(device: str) -> Iterator[None]:
    """One torch thread on CPU while the block runs; the previous count is restored after.

    Small MLPs run fastest single-threaded; more threads only contend with the envs.
    """
    threads = torch.get_num_threads()
    if device == "cpu":
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


class RunLifecycle(ABC):
    """A run's learn call and its ending; subclasses say what their kind of run keeps and says."""

    # When evaluations are checked (see EvaluationCallback) and whether one comes before learning.
    evaluate_on: CheckOn = "step"
    evaluate_first: bool = False

    def __init__(
        self,
        run: Run,
        model: BaseAlgorithm,
        config: ExperimentConfig,
        conditions: Sequence[Condition],
        eval_envs: Mapping[str, VecEnv],
        say: Callable[[str], None],
        progress_bar: bool,
        history: dict[str, Any] | None = None,
    ):
        """``history``: the learning curves so far (a resumed run), else they start empty."""
        self.run, self.model, self.config = run, model, config
        self.conditions = list(conditions)
        self.say = say
        self.progress = ProgressCallback(config.total_timesteps) if progress_bar else None
        self.stop = StopOnSignalCallback()
        self.evaluation = EvaluationCallback(
            eval_envs,
            episodes=config.evaluation.episodes,
            deterministic=config.evaluation.deterministic,
            seed=config.seed + EVAL_SEED_OFFSET,
            evaluations_path=run.evaluations_path,
            freq_steps=config.evaluation.freq_steps,
            history=history,
            report=self.report,
            check_on=self.evaluate_on,
        )

    @property
    def report(self) -> Callable[[str], None]:
        """Where callbacks print: above the progress bar while it is live, else ``say``."""
        return self.progress.print if self.progress is not None else self.say

    def learn(
        self, learn_steps: int, reset_num_timesteps: bool, resume_step: int | None = None
    ) -> Run:
        """Learn ``learn_steps`` timesteps, then end the run (see the module docstring).

        ``resume_step``: TensorBoard continues a resumed run from there.
        """
        model, evaluation = self.model, self.evaluation
        model.set_logger(tensorboard_logger(self.run.tb_dir, resume_step=resume_step))
        try:
            if self.evaluate_first:
                evaluation.init_callback(model)
                evaluation.evaluate()
            with self.stop:
                model.learn(
                    total_timesteps=learn_steps,
                    callback=self._callbacks(),
                    reset_num_timesteps=reset_num_timesteps,
                    progress_bar=False,
                )
                if self.stop.signum is not None and self._timesteps < self.config.total_timesteps:
                    self._end_interrupted()
                else:
                    self._finish()
            return self.run
        except BaseException:
            self.run.update_meta(status="interrupted", stopped=now_iso())
            raise
        finally:
            model.logger.close()

    def save_model(self) -> None:
        """The final model.zip and normalization.npz, atomically."""
        save_final_model(self.run, self.model)

    def extra_callbacks(self) -> list[BaseCallback]:
        """Callbacks this kind of run adds (after the evaluation, before the stop)."""
        return []

    @abstractmethod
    def keep_interrupted(self) -> list[str]:
        """Save what an interrupted run keeps besides its model; the lines telling what next."""

    @abstractmethod
    def finished_title(self, timesteps: int) -> str:
        """The line above the final summary table."""

    @property
    def _timesteps(self) -> int:
        return int(self.model.num_timesteps)

    def _callbacks(self) -> CallbackList:
        callbacks: list[BaseCallback] = [
            DynamicsLogCallback(),
            self.evaluation,
            *self.extra_callbacks(),
            self.stop,
        ]
        if self.progress is not None:
            callbacks.append(self.progress)
        return CallbackList(callbacks)

    def _end_interrupted(self) -> None:
        lines = self.keep_interrupted()
        self.save_model()
        self.run.update_meta(
            status="interrupted",
            interrupted_by=self.stop.name,
            timesteps=self._timesteps,
            stopped=now_iso(),
        )
        for line in lines:
            self.say(line)

    def _finish(self) -> None:
        evaluation, timesteps = self.evaluation, self._timesteps
        self.save_model()
        if evaluation.last is not None and evaluation.last[0] == timesteps:
            results = evaluation.last[1]
        else:
            results = evaluation.evaluate()
        deterministic = self.config.evaluation.deterministic
        summary = summarize(results, self.conditions, timesteps, deterministic, evaluation.seed)
        write_json(self.run.summary_path, summary)
        self.run.update_meta(status="finished", timesteps=timesteps, finished=now_iso())
        self.say(self.finished_title(timesteps))
        self.say(summary_table(summary))
        self.say(f"\nrun directory: {self.run.path}")
