"""One run lifecycle for ``train`` and ``transfer``: from the learn call to run.json's last word.

A verb builds its envs, model and run directory, subclasses :class:`RunLifecycle` for what
its runs keep and say, and calls :meth:`RunLifecycle.learn` inside :func:`torch_threads`
(``training._Training``, ``transfer.target_learning._Transfer``).

:meth:`RunLifecycle.learn` logs to the run's ``tb/``, shows the progress bar, turns the first
SIGINT/SIGTERM into a stop at the next step and then either ends an interrupted run (what the
verb keeps, the final model, ``status: interrupted`` with the signal) or finishes it (final
model, a last evaluation unless one was taken at the final step, ``summary.json``,
``status: finished``, the summary table). Signals that arrive while it ends or finishes only
request a stop, so the run's files are complete.

Nothing after learning can lose the model: it is saved first. Logging, evaluations and
checkpoints never end a run: a failure in them is a one-line warning, listed in run.json's
``warnings`` (see :class:`RunWarnings`). An exception from learning itself (a crashed env
worker) saves the model and what the verb keeps, marks the run ``failed`` with the ``error``,
and propagates; a second signal marks it ``interrupted`` and propagates at once.

A *resumable* run (every training run; a transfer run whose config says all it trains, see
:func:`sim2real.transfer.strategies.resumable`) takes the config's periodic checkpoints and one
more when it is stopped or fails, and says ``sim2real train --resume RUN`` to continue it.
"""

from __future__ import annotations

import contextlib
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import numpy as np
import torch
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.vec_env import VecEnv

from sim2real.callbacks import (
    CheckpointCallback,
    DynamicsLogCallback,
    EvaluationCallback,
    GuardedCallback,
    ProgressCallback,
    StopOnSignalCallback,
)
from sim2real.callbacks.trigger import CheckOn
from sim2real.callbacks.video import EvaluationVideos
from sim2real.config import ExperimentConfig
from sim2real.errors import RunError, describe
from sim2real.evaluation.conditions import Condition
from sim2real.evaluation.training_eval import summarize, summary_table
from sim2real.io import write_json
from sim2real.runs import Run, now_iso, save_final_model
from sim2real.tensorboard_log import tensorboard_logger

__all__ = ["EVAL_SEED_OFFSET", "RunLifecycle", "RunWarnings", "torch_threads"]

# Evaluation episodes are seeded away from the training envs' seeds (seed .. seed + n_envs).
EVAL_SEED_OFFSET = 1_000_000
# summary.json's count of training episodes the env ended because the simulation blew up.
NON_FINITE_FIELD = "non_finite_episodes"

T = TypeVar("T")


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


class RunWarnings:
    """Faults a run survives: each is warned about once (one line) and listed for run.json.

    ``earlier``: the warnings of the sessions before (a resumed run keeps them).
    """

    def __init__(self, earlier: Sequence[str] = ()):
        self.messages: list[str] = [str(message) for message in earlier]
        self._keys: set[str] = set()

    def add(self, key: str, message: str) -> None:
        """Warn with ``message`` unless a warning with the same ``key`` was given already."""
        if key in self._keys:
            return
        self._keys.add(key)
        self.messages.append(message)
        with contextlib.suppress(Exception):  # a filter that turns warnings into errors
            warnings.warn(message, RuntimeWarning, stacklevel=2)

    def failed(self, what: str, error: Exception, after: str | None = None) -> None:
        """``what`` raised ``error``; ``after`` says what that means for the run."""
        after = after or "the run goes on without it"
        self.add(what, f"{what} failed ({describe(error)}); {after}")


def _videos(config: ExperimentConfig, conditions: Sequence[Condition]) -> EvaluationVideos | None:
    """The TensorBoard videos of ``evaluation.video``, or None when it is off."""
    if not config.evaluation.video:
        return None
    seed = config.seed + EVAL_SEED_OFFSET
    env_config = config.env
    return EvaluationVideos(
        env_config.id, env_config.kwargs, conditions, seed, history_steps=env_config.history_steps
    )


class RunLifecycle(ABC):
    """A run's learn call and its ending; subclasses say what their kind of run keeps and says."""

    # When evaluations are checked (see EvaluationCallback) and whether one comes before learning.
    evaluate_on: CheckOn = "step"
    evaluate_first: bool = False
    steps: str = "timesteps"  # what one learning step is, in the lines a run says

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
        non_finite_episodes: int = 0,
        on_evaluation: Callable[[int, Mapping[str, np.ndarray]], None] | None = None,
        resumable: bool = True,
    ):
        """``history``, ``non_finite_episodes``: the learning curves and the count of blown-up
        training episodes so far (a resumed run), else they start empty. ``on_evaluation``
        receives each evaluation (timesteps, per-episode returns by condition). ``resumable``:
        checkpoint (see the module docstring)."""
        self.run, self.model, self.config = run, model, config
        self.conditions = list(conditions)
        self.say = say
        earlier = run.meta.get("warnings")
        self.warnings = RunWarnings(earlier if isinstance(earlier, list) else ())
        self.progress = ProgressCallback(config.total_timesteps) if progress_bar else None
        self.stop = StopOnSignalCallback()
        self.episodes = DynamicsLogCallback(non_finite_episodes=non_finite_episodes)
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
            videos=_videos(config, conditions),
            observe=on_evaluation,
        )
        self.checkpoints: CheckpointCallback | None = None
        if resumable:
            checkpoint = config.checkpoint
            self.checkpoints = CheckpointCallback(
                run,
                checkpoint.freq_steps,
                checkpoint.keep,
                checkpoint.save_replay_buffer,
                extra=self.checkpoint_fields,
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
        logger = tensorboard_logger(self.run.tb_dir, resume_step, on_error=self.warnings.failed)
        self.model.set_logger(logger)
        try:
            with self.stop:
                self._learn_and_end(learn_steps, reset_num_timesteps)
            return self.run
        except BaseException as error:
            if not isinstance(error, Exception):  # a second signal: stop now, save nothing more
                self._record(status="interrupted", stopped=now_iso())
            raise
        finally:
            logger.close()

    def save_model(self) -> None:
        """The final model.zip and normalization.npz, atomically."""
        save_final_model(self.run, self.model)

    def extra_callbacks(self) -> list[tuple[str, BaseCallback]]:
        """``(what it does, callback)`` this kind of run adds (after the evaluation)."""
        if self.checkpoints is None:
            return []
        return [("the periodic checkpoint", self.checkpoints)]

    def checkpoint_fields(self) -> dict[str, Any]:
        """What a checkpoint records for the run to continue from."""
        return {NON_FINITE_FIELD: self.episodes.non_finite_episodes}

    def driving_callbacks(self) -> list[BaseCallback]:
        """Callbacks that shape what is learned (ADR): not guarded, their failure is learning's."""
        return []

    def keep_interrupted(self) -> list[str]:
        """Save what an interrupted run keeps besides its model; the lines telling what next."""
        stopped = f"stopped by {self.stop.name} at {self._timesteps:,} {self.steps}"
        if self.checkpoints is None:
            return [stopped, *self.not_resumable()]
        path = self.checkpoints.save()
        return [f"{stopped}; checkpoint {path}", self._continue_with]

    def keep_failed(self) -> list[str]:
        """Save what a failed run keeps besides its model; the lines telling what next."""
        if self.checkpoints is None:
            return []
        path = self.checkpoints.save()
        return [f"checkpoint {path} ({self._timesteps:,} {self.steps})", self._continue_with]

    def not_resumable(self) -> list[str]:
        """What to do instead, said when a run that is not resumable stops."""
        return []

    @property
    def _continue_with(self) -> str:
        return f"continue with: sim2real train --resume {self.run.path}"

    @abstractmethod
    def finished_title(self, timesteps: int) -> str:
        """The line above the final summary table."""

    @property
    def _timesteps(self) -> int:
        return int(self.model.num_timesteps)

    def _learn_and_end(self, learn_steps: int, reset_num_timesteps: bool) -> None:
        try:
            if self.evaluate_first:
                self.evaluation.init_callback(self.model)
                self._attempt("the evaluation before learning", self.evaluation.evaluate)
            self.model.learn(
                total_timesteps=learn_steps,
                callback=self._callbacks(),
                reset_num_timesteps=reset_num_timesteps,
                progress_bar=False,
            )
            if self.stop.signum is not None and self._timesteps < self.config.total_timesteps:
                self._end_interrupted()
            else:
                self._finish()
        except Exception as error:
            self._end_failed(error)
            raise

    def _callbacks(self) -> CallbackList:
        observers = [
            ("TensorBoard logging of episode dynamics", self.episodes),
            ("the periodic evaluation", self.evaluation),
            *self.extra_callbacks(),
        ]
        if self.progress is not None:
            observers.append(("the progress bar", self.progress))
        guarded = [GuardedCallback(cb, what, self.warnings.failed) for what, cb in observers]
        return CallbackList([*self.driving_callbacks(), *guarded, self.stop])

    def _attempt(self, what: str, action: Callable[[], T], after: str | None = None) -> T | None:
        """``action()``, or None when it raised: then a warning says ``what`` failed."""
        try:
            return action()
        except Exception as error:
            self.warnings.failed(what, error, after)
            return None

    def _record(self, **fields: Any) -> None:
        """run.json's fields, with the warnings so far."""
        self.run.update_meta(**fields, warnings=self.warnings.messages)

    def _end_interrupted(self) -> None:
        lines = self.keep_interrupted()
        self.save_model()
        self._record(
            status="interrupted",
            interrupted_by=self.stop.name,
            timesteps=self._timesteps,
            stopped=now_iso(),
        )
        for line in lines:
            self.say(line)

    def _end_failed(self, error: Exception) -> None:
        """Learning or the run's ending raised: keep what was learned, then say what happened.

        Weights that are no longer finite (a diverged update) are not worth keeping: saving
        them would make them the checkpoint to resume from; the run then ends with a one-line
        :class:`RunError` instead of whatever the non-finite numbers made fail.
        """
        saved, lines = False, []
        finite = _finite_weights(self.model)
        if finite:
            try:
                self.save_model()
                saved = True
            except Exception as save_error:
                self.warnings.failed("saving model.zip", save_error)
            lines = self._attempt("saving a checkpoint", self.keep_failed) or []
        else:
            self.warnings.add(
                "weights",
                "the model's weights are not finite; not saved (the last periodic checkpoint "
                "is the state to go back to)",
            )
        progress = {"timesteps": self._timesteps} if saved else {}
        self._record(status="failed", error=describe(error), stopped=now_iso(), **progress)
        for line in lines:
            self.say(line)
        if not finite:
            raise RunError(
                f"{self.run.path}: learning diverged at {self._timesteps:,} {self.steps}: the "
                f"weights are not finite ({describe(error)}); lower the learning rate or the "
                "loss coefficients (the last periodic checkpoint, if any, holds the state before)"
            ) from error

    def _finish(self) -> None:
        timesteps = self._timesteps
        self.save_model()  # first: nothing below can lose it
        results = self._attempt(
            "the final evaluation",
            lambda: self._final_results(timesteps),
            after="the model is saved; summary.json is not written",
        )
        summary = None
        if results is not None:
            summary = self._attempt(
                "writing summary.json",
                lambda: self._write_summary(results, timesteps),
                after="the model is saved",
            )
        self._warn_non_finite()
        self._record(status="finished", timesteps=timesteps, finished=now_iso())
        if summary is not None:
            self.say(self.finished_title(timesteps))
            self.say(summary_table(summary))
        self.say(f"\nrun directory: {self.run.path}")

    def _final_results(self, timesteps: int) -> dict[str, np.ndarray]:
        last = self.evaluation.last
        return last[1] if last is not None and last[0] == timesteps else self.evaluation.evaluate()

    def _write_summary(self, results: Mapping[str, np.ndarray], timesteps: int) -> dict[str, Any]:
        deterministic, seed = self.config.evaluation.deterministic, self.evaluation.seed
        summary = summarize(results, self.conditions, timesteps, deterministic, seed)
        summary[NON_FINITE_FIELD] = self.episodes.non_finite_episodes
        write_json(self.run.summary_path, summary)
        return summary

    def _warn_non_finite(self) -> None:
        count = self.episodes.non_finite_episodes
        if count:
            self.warnings.add(
                NON_FINITE_FIELD,
                f"{count} training episode(s) ended because the simulation blew up (non-finite "
                "state); see episodes/non_finite in TensorBoard and the randomization ranges",
            )


def _finite_weights(model: BaseAlgorithm) -> bool:
    return all(bool(torch.isfinite(weights).all()) for weights in model.policy.parameters())
