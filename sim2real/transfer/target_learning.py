"""Training a model on the target: the learning curve from step 0, saving, the summary.

Shared by every strategy once :mod:`sim2real.transfer.finetune` has built the model and the
envs (a :class:`TargetSetup`). The first evaluation runs before any update, so the curve's
first point is the policy as transferred (jumpstart); later points are taken after the
update that reaches each evaluation step. ``model.num_timesteps`` restarts at 0: the curve
counts target samples only.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass

from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.vec_env import VecEnv

from sim2real.callbacks import (
    DynamicsLogCallback,
    EvalCondition,
    EvaluationCallback,
    ProgressCallback,
    SignalStop,
    StopOnSignalCallback,
    summarize,
    summary_table,
    tensorboard_logger,
)
from sim2real.config import ExperimentConfig
from sim2real.io import write_json
from sim2real.runs import Run, now_iso
from sim2real.training import EVAL_SEED_OFFSET, save_final_model
from sim2real.transfer.freeze import Freeze


@dataclass
class TargetSetup:
    """Everything built before the run directory exists (so bad input leaves nothing)."""

    config: ExperimentConfig
    model: BaseAlgorithm
    venv: VecEnv
    eval_envs: dict[str, VecEnv]
    conditions: list[EvalCondition]
    normalization: str  # keep | refit | fresh | none
    frozen: Freeze | None


class AfterUpdateEvaluation(EvaluationCallback):
    """Evaluates at the start of a rollout, i.e. after the updates on every sample so far.

    The base class evaluates inside a rollout, before the samples being collected are
    learned from, so its point at step t shows the policy of an earlier update; here the
    point at step t is the policy trained on t target samples, as a learning curve means.
    """

    _due: int | None = None  # the next evaluation step (None: only explicit evaluations)

    def _on_training_start(self) -> None:
        self._due = self.freq_steps if self.freq_steps > 0 else None

    def _on_step(self) -> bool:
        return True

    def _on_rollout_start(self) -> None:
        if self._due is not None and self.num_timesteps >= self._due:
            self.evaluate()
            self._due = (self.num_timesteps // self.freq_steps + 1) * self.freq_steps


class _TargetCallbacks:
    """The callbacks of a transfer run and its evaluation (first one at step 0)."""

    def __init__(
        self, run: Run, setup: TargetSetup, say: Callable[[str], None], progress_bar: bool
    ):
        cfg = setup.config
        self.progress = ProgressCallback(cfg.total_timesteps) if progress_bar else None
        self.evaluation = AfterUpdateEvaluation(
            setup.eval_envs,
            episodes=cfg.evaluation.episodes,
            deterministic=cfg.evaluation.deterministic,
            seed=cfg.seed + EVAL_SEED_OFFSET,
            evaluations_path=run.evaluations_path,
            freq_steps=cfg.evaluation.freq_steps,
            report=self.progress.print if self.progress is not None else say,
        )
        self.stop = SignalStop()

    def as_list(self) -> CallbackList:
        callbacks: list[BaseCallback] = [
            DynamicsLogCallback(),
            self.evaluation,
            StopOnSignalCallback(self.stop),
        ]
        if self.progress is not None:
            callbacks.append(self.progress)
        return CallbackList(callbacks)


def learn_on_target(
    run: Run, setup: TargetSetup, say: Callable[[str], None], progress_bar: bool
) -> Run:
    cfg, model = setup.config, setup.model
    callbacks = _TargetCallbacks(run, setup, say, progress_bar)
    model.num_timesteps = 0  # target samples count from zero (the source's are not counted)
    model.set_logger(tensorboard_logger(run.tb_dir))
    run.update_meta(status="running", timesteps=0)
    try:
        callbacks.evaluation.init_callback(model)
        callbacks.evaluation.evaluate()  # step 0: the policy as transferred (jumpstart)
        with callbacks.stop:
            model.learn(
                total_timesteps=cfg.total_timesteps,
                callback=callbacks.as_list(),
                reset_num_timesteps=True,
                progress_bar=False,
            )
        if callbacks.stop.signum is not None and model.num_timesteps < cfg.total_timesteps:
            _save_model(run, setup)
            run.update_meta(
                status="interrupted",
                interrupted_by=callbacks.stop.name,
                timesteps=int(model.num_timesteps),
                stopped=now_iso(),
            )
            say(f"stopped by {callbacks.stop.name} at {model.num_timesteps:,} target steps")
            say("transfer runs are not resumable; run the transfer again with --overwrite")
            return run
        _finish(run, setup, callbacks.evaluation, say)
        return run
    except BaseException:
        run.update_meta(status="interrupted", stopped=now_iso())
        raise
    finally:
        model.logger.close()


def _save_model(run: Run, setup: TargetSetup) -> None:
    """model.zip and normalization.npz, atomically (staged, then renamed).

    A frozen model is saved with full-size optimizers, so it loads like any SB3 model.
    """
    with setup.frozen.loadable_optimizers() if setup.frozen is not None else nullcontext():
        save_final_model(run, setup.model)


def _finish(
    run: Run, setup: TargetSetup, evaluation: EvaluationCallback, say: Callable[[str], None]
) -> None:
    cfg, model = setup.config, setup.model
    timesteps = int(model.num_timesteps)
    _save_model(run, setup)
    if evaluation.last is not None and evaluation.last[0] == timesteps:
        results = evaluation.last[1]
    else:
        results = evaluation.evaluate()
    summary = summarize(
        results, setup.conditions, timesteps, cfg.evaluation.deterministic, evaluation.seed
    )
    write_json(run.summary_path, summary)
    run.update_meta(status="finished", timesteps=timesteps, finished=now_iso())
    say(f"\nafter {timesteps:,} target steps ({cfg.evaluation.episodes} episodes per condition):")
    say(summary_table(summary))
    say(f"\nrun directory: {run.path}")


def close_setup(setup: TargetSetup) -> None:
    setup.venv.close()
    for env in setup.eval_envs.values():
        env.close()
