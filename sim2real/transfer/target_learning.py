"""Training a model on the target: the learning curve from step 0, saving, the summary.

Shared by every strategy once :mod:`sim2real.transfer.finetune` has built the model and the
envs (a :class:`TargetSetup`); the run itself goes through :mod:`sim2real.lifecycle` like a
training run. The first evaluation runs before any update, so the curve's first point is the
policy as transferred (jumpstart); later points are taken after the update that reaches each
evaluation step. ``model.num_timesteps`` restarts at 0: the curve counts target samples only.
A resumable transfer (:func:`sim2real.transfer.strategies.resumable`) checkpoints like a
training run, and ``sim2real train --resume`` continues it.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass

from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecEnv

from sim2real.callbacks.trigger import CheckOn
from sim2real.config import ExperimentConfig
from sim2real.evaluation.conditions import Condition
from sim2real.lifecycle import RunLifecycle
from sim2real.runs import Run
from sim2real.transfer.freeze import Freeze


@dataclass
class TargetSetup:
    """Everything built before the run directory exists (so bad input leaves nothing)."""

    config: ExperimentConfig
    model: BaseAlgorithm
    venv: VecEnv
    eval_envs: dict[str, VecEnv]
    conditions: list[Condition]
    normalization: str  # keep | refit | fresh | none
    frozen: Freeze | None
    resumable: bool
    steps: str = "target steps"  # what a training step is: sysid trains in simulation


class _Transfer(RunLifecycle):
    """A transfer run: evaluated before learning and after updates; resumable or not."""

    # Checked inside a rollout, a point at step t would show the policy of an earlier update
    # (the samples being collected are not learned from yet); checked at the start of a
    # rollout, it is the policy trained on t target samples, as a learning curve means.
    evaluate_on: CheckOn = "rollout_start"
    evaluate_first = True  # step 0: the policy as transferred (jumpstart)

    def __init__(
        self, run: Run, setup: TargetSetup, say: Callable[[str], None], progress_bar: bool
    ):
        super().__init__(
            run,
            setup.model,
            setup.config,
            setup.conditions,
            setup.eval_envs,
            say,
            progress_bar,
            resumable=setup.resumable,
        )
        self.frozen = setup.frozen
        self.normalization = setup.normalization
        self.steps = setup.steps

    def save_model(self) -> None:
        """A frozen model is saved with full-size optimizers, so it loads like any SB3 model."""
        with self.frozen.loadable_optimizers() if self.frozen is not None else nullcontext():
            super().save_model()

    def not_resumable(self) -> list[str]:
        fixed = "a frozen actor" if self.frozen is not None else "frozen normalization statistics"
        return [f"a transfer with {fixed} is not resumable; run it again with --overwrite"]

    def finished_title(self, timesteps: int) -> str:
        episodes = self.config.evaluation.episodes
        return f"\nafter {timesteps:,} {self.steps} ({episodes} episodes per condition):"


def learn_on_target(
    run: Run, setup: TargetSetup, say: Callable[[str], None], progress_bar: bool
) -> Run:
    transfer = _Transfer(run, setup, say, progress_bar)
    setup.model.num_timesteps = 0  # target samples count from zero (the source's are not counted)
    run.update_meta(status="running", timesteps=0)
    return transfer.learn(setup.config.total_timesteps, reset_num_timesteps=True)


def close_setup(setup: TargetSetup) -> None:
    setup.venv.close()
    for env in setup.eval_envs.values():
        env.close()
