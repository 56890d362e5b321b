"""Phase 2 of adaptation: fit the adaptation module to the frozen teacher (its latent or actions).

DAgger-style, as RMA trains it: the *student* acts (module + frozen teacher body, sampling its
actions as the teacher did in training) in the training envs under the config's DR, so the
module learns on the states it will visit; the label of every step is the teacher encoder's
``z`` of that step's privileged entries (the envs run with ``privileged=True``; the student
reads only the deployable part). Each iteration collects ``rollout_steps`` steps per env, adds
them to a dataset of the last ``dataset_rollouts`` rollouts (DAgger's aggregate, bounded; with
``episode_steps`` the episodes are cut short, so it holds more dynamics draws), then
takes ``epochs`` passes of Adam minibatches over it on the MSE onto the latent (``loss:
latent``) or onto the teacher body's actions through the frozen body (``loss: action``).
TensorBoard (``RUN/tb``, x axis = student steps): ``adaptation/<loss>_loss`` (the first pass's
mean), ``adaptation/latent_loss_fresh`` (the new rollout's latent error, before the module
trains on it: its error on episode draws it has not seen; with the action loss also
``adaptation/action_loss_fresh``), ``adaptation/student_return`` (training episodes that ended
in the iteration). A resumed phase 2 starts its dataset afresh. Checkpoints every
``checkpoint.freq_steps`` student steps and when stopped (SIGINT/SIGTERM); the end evaluates
the student like any run (``summary.json``).
"""

from __future__ import annotations

import collections
import contextlib
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sim2real.callbacks import StopOnSignalCallback
from sim2real.config import ExperimentConfig, NormalizeConfig
from sim2real.errors import describe
from sim2real.evaluation.conditions import evaluation_conditions, make_env
from sim2real.evaluation.rollouts import rollout
from sim2real.evaluation.training_eval import summarize, summary_table
from sim2real.io import atomic_path, read_json, staged_directory, write_json
from sim2real.lifecycle import EVAL_SEED_OFFSET, torch_threads
from sim2real.policies.history import HistoryBuffer
from sim2real.policies.normalization import load_normalization
from sim2real.runs import Run, now_iso
from sim2real.tensorboard_log import tensorboard_logger
from sim2real.transfer.rma.layout import (
    CHECKPOINT_MODULE_FILE,
    MODULE_FILE,
    OPTIMIZER_FILE,
    PHASE2_CHECKPOINTS,
    load_module_weights,
    phase2_checkpoints,
)
from sim2real.transfer.rma.networks import (
    action_statistic,
    body_actions,
    explores_with_sde,
    teacher_encoder,
)
from sim2real.transfer.rma.student import (
    BodyWindow,
    StudentPolicy,
    build_module,
    history_scaler,
)

# Phase-2 env seeds, away from the teacher's (seed .. seed + n_envs) and the evaluations'.
PHASE2_SEED_OFFSET = 2_000_000
PROGRESS_LINES = 10  # phase 2 prints a line every tenth of its budget (and at checkpoints)


@dataclass(frozen=True)
class Samples:
    """Phase-2 data, one row per student step: the module's input, the deployable observation
    as the body reads it (normalized), the teacher's latent of that step and the body's
    deterministic action on it (the action loss's label, made once as the step is taken;
    no columns for the latent loss)."""

    histories: torch.Tensor
    observations: torch.Tensor
    latents: torch.Tensor
    teacher_actions: torch.Tensor

    def __len__(self) -> int:
        return len(self.histories)

    def rows(self, index: torch.Tensor) -> Samples:
        return Samples(*(column[index] for column in self._columns()))

    @staticmethod
    def join(parts: Iterable[Samples]) -> Samples:
        """One copy of all the parts' rows, made for an update and freed after it."""
        columns = zip(*(part._columns() for part in parts), strict=True)
        return Samples(*(torch.cat(column) for column in columns))

    def _columns(self) -> tuple[torch.Tensor, ...]:
        return self.histories, self.observations, self.latents, self.teacher_actions


# What phase 2 minimizes: (estimated z, samples) -> loss.
Objective = Callable[[torch.Tensor, Samples], torch.Tensor]


def latent_objective(estimates: torch.Tensor, samples: Samples) -> torch.Tensor:
    """RMA's: the MSE onto the teacher's latent."""
    return torch.nn.functional.mse_loss(estimates, samples.latents)


def action_objective(policy: Any) -> Objective:
    """Action imitation through the frozen body (Lee et al. 2020's student also imitates the
    teacher's actions): the MSE between the body's action on the estimate and on the true ``z``,
    so each direction of ``z`` counts as much as it moves the actions."""

    def objective(estimates: torch.Tensor, samples: Samples) -> torch.Tensor:
        imitated = action_statistic(policy, samples.observations, estimates)
        return torch.nn.functional.mse_loss(imitated, samples.teacher_actions)

    return objective


class Regression:
    """The adaptation module, its optimizer and one regression step on the objective."""

    def __init__(
        self,
        module: torch.nn.Module,
        learning_rate: float,
        batch_size: int,
        objective: Objective = latent_objective,
    ):
        self.module, self.batch_size, self.objective = module, batch_size, objective
        self.optimizer = torch.optim.Adam(module.parameters(), lr=learning_rate)

    def step(self, samples: Samples) -> float:
        """One Adam step on a minibatch; its loss before the step."""
        self.module.train()
        loss = self.objective(self.module(samples.histories), samples)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        self.module.eval()
        return float(loss.detach())

    def error(self, samples: Samples, objective: Objective | None = None) -> float:
        """The objective's value (or another's) on these samples, without training."""
        with torch.no_grad():
            return float((objective or self.objective)(self.module(samples.histories), samples))

    def fit(self, samples: Samples, epochs: int, rng: np.random.Generator) -> float:
        """``epochs`` shuffled passes; the mean minibatch loss of the first."""
        first: list[float] = []
        for epoch in range(epochs):
            order = torch.as_tensor(rng.permutation(len(samples)))
            for start in range(0, len(order), self.batch_size):
                loss = self.step(samples.rows(order[start : start + self.batch_size]))
                if epoch == 0:
                    first.append(loss)
        return float(np.mean(first))


def train_student(
    run: Run,
    cfg: ExperimentConfig,
    teacher: ExperimentConfig,
    *,
    progress_bar: bool,
    say: Callable[[str], None],
) -> Run:
    """Phase 2 from its latest checkpoint (or the start); ends the top-level run."""
    del progress_bar  # phase 2 reports one line per checkpoint instead
    from sim2real.training import make_training_env

    adaptation = cfg.adaptation
    assert adaptation is not None
    model = run.load_model(device="cpu")
    model.policy.set_training_mode(False)
    for parameter in model.policy.parameters():
        parameter.requires_grad_(False)
    normalization = (
        load_normalization(run.normalization_path) if run.normalization_path.is_file() else None
    )
    module = build_module(model, adaptation, cfg.env.history_steps)
    objective = action_objective(model.policy) if adaptation.loss == "action" else latent_objective
    regression = Regression(module, adaptation.learning_rate, adaptation.batch_size, objective)
    steps = _restore(run, regression)
    venv = make_training_env(_student_envs(teacher, adaptation.episode_steps))
    stop = StopOnSignalCallback()
    logger = tensorboard_logger(run.tb_dir, steps if steps else None)
    say(
        f"phase 2 (student): {adaptation.module} adaptation module over {adaptation.history_steps} "
        f"steps, {steps:,} of {adaptation.timesteps:,} student steps -> {run.path}"
    )
    say(f"TensorBoard: tensorboard --logdir {run.path}")
    try:
        # Signals while the run finishes only request a stop, so its files are complete.
        with torch_threads("cpu"), stop:
            seed = cfg.seed + PHASE2_SEED_OFFSET + steps
            body_steps = cfg.env.history_steps
            labels = adaptation.loss == "action"  # the body's actions, for the action loss
            collector = _Collector(model, module, normalization, venv, seed, body_steps, labels)
            steps = _regress(run, cfg, collector, regression, steps, logger, stop, say)
            if stop.signum is not None and steps < adaptation.timesteps:
                path = _save_checkpoint(run, regression, steps, cfg.checkpoint.keep)
                run.update_meta(status="interrupted", interrupted_by=stop.name, stopped=now_iso())
                say(f"stopped by {stop.name} at {steps:,} student steps; checkpoint {path}")
                say(f"continue with: sim2real train --resume {run.path}")
                return run
            _finish(run, cfg, module, steps, say)
        return run
    except Exception as error:
        finite = all(bool(torch.isfinite(p).all()) for p in module.parameters())
        with contextlib.suppress(Exception):  # what was learned is the state to resume from
            if finite:
                _save_checkpoint(run, regression, steps, cfg.checkpoint.keep)
        run.update_meta(status="failed", error=describe(error), stopped=now_iso())
        raise
    except BaseException:  # a second signal: stop at once
        run.update_meta(status="interrupted", stopped=now_iso())
        raise
    finally:
        logger.close()
        venv.close()


def _regress(
    run: Run,
    cfg: ExperimentConfig,
    collector: _Collector,
    regression: Regression,
    steps: int,
    logger: Any,
    stop: StopOnSignalCallback,
    say: Callable[[str], None],
) -> int:
    """Collect and regress until the budget is spent or a stop is requested; the steps done."""
    adaptation = cfg.adaptation
    assert adaptation is not None
    rng = np.random.default_rng(cfg.seed + steps)
    next_checkpoint = _next_multiple(steps, cfg.checkpoint.freq_steps)
    report_every = max(1, adaptation.timesteps // PROGRESS_LINES)
    next_report = _next_multiple(steps, report_every)
    recent: list[float] = []
    dataset: collections.deque[Samples] = collections.deque(maxlen=adaptation.dataset_rollouts)
    n_envs = collector.venv.num_envs
    while steps < adaptation.timesteps and stop.signum is None:
        # The last rollout only as long as the budget needs: the student's steps stay within
        # adaptation.timesteps (up to n_envs - 1 over), whatever rollout_steps is.
        remaining_per_env = -(-(adaptation.timesteps - steps) // n_envs)
        batch = collector.collect(min(adaptation.rollout_steps, remaining_per_env), stop)
        if batch is None:  # stopped before the first step of the rollout
            break
        samples, returns = batch
        steps += len(samples)
        # The fresh errors: on the new rollout's draws, before the module trains on them.
        logger.record("adaptation/latent_loss_fresh", regression.error(samples, latent_objective))
        if adaptation.loss != "latent":
            logger.record(f"adaptation/{adaptation.loss}_loss_fresh", regression.error(samples))
        dataset.append(samples)
        loss = regression.fit(Samples.join(dataset), adaptation.epochs, rng)
        logger.record(f"adaptation/{adaptation.loss}_loss", loss)
        if returns:
            logger.record("adaptation/student_return", float(np.mean(returns)))
        logger.dump(steps)
        run.update_meta(student_timesteps=steps)
        recent += returns
        saved = ""
        if next_checkpoint and steps >= next_checkpoint:
            saved = (
                f"; checkpoint {_save_checkpoint(run, regression, steps, cfg.checkpoint.keep).name}"
            )
            next_checkpoint = _next_multiple(steps, cfg.checkpoint.freq_steps)
        if saved or steps >= next_report:
            shown = f"{np.mean(recent):.1f}" if recent else "-"
            say(
                f"student steps {steps:,}: {adaptation.loss} loss {loss:.4g}, "
                f"student return {shown}{saved}"
            )
            next_report, recent = _next_multiple(steps, report_every), []
    return steps


class _Collector:
    """Steps the privileged training envs with the student acting; labels from the teacher.

    The student's history holds the raw deployable observations, as at deployment
    (:class:`sim2real.transfer.rma.student.StudentPolicy`); the teacher's encoder reads the
    privileged entries normalized as in its training. The envs are the teacher's: their
    observation starts with what the body reads (its window of ``body_steps``, built by
    the envs' History wrapper from the student's actions, as the student builds it)."""

    def __init__(
        self,
        model: Any,
        module: Any,
        normalization: Any,
        venv: Any,
        seed: int,
        body_steps: int,
        label_actions: bool,
    ):
        self.policy, self.module, self.venv = model.policy, module, venv
        self.label_actions = label_actions  # made only when the action loss trains on them
        self.encoder = teacher_encoder(model.policy)
        window = BodyWindow.of(model, body_steps)
        self.size, self.latest = window.size, window.latest
        self.normalize = (
            (lambda obs: np.asarray(normalization.normalize_obs(obs), np.float32))
            if normalization is not None
            else (lambda obs: np.asarray(obs, np.float32))
        )
        self.scale_history = history_scaler(normalization, self.latest, module.steps)
        if venv.observation_space.shape != model.observation_space.shape:  # not the teacher's
            raise ValueError(
                f"phase 2's envs observe {venv.observation_space.shape}, "
                f"the teacher read {model.observation_space.shape}"
            )
        venv.seed(seed)
        self.raw = np.asarray(venv.reset(), np.float32)
        self.history = HistoryBuffer(
            module.steps, window.observation_size, module.action_size, venv.num_envs
        )
        for index in range(venv.num_envs):
            self.history.start(index, self.raw[index, self.latest])

    def collect(
        self, steps_per_env: int, stop: StopOnSignalCallback
    ) -> tuple[Samples, list[float]] | None:
        """``(the rollout's samples, returns of the episodes that ended)``; None when a stop
        was requested before the first step."""
        histories, deployable, latents, teacher_actions, returns = [], [], [], [], []
        if explores_with_sde(self.policy):  # gSDE: a fresh exploration matrix per rollout
            self.policy.reset_noise(self.venv.num_envs)
        for _ in range(steps_per_env):
            if stop.signum is not None:
                break
            flat = torch.as_tensor(self.scale_history(self.history.flat()))
            full = torch.as_tensor(self.normalize(self.raw))
            observed = full[:, : self.size]
            with torch.no_grad():
                latents.append(self.encoder.latent(full))
                teacher_actions.append(
                    action_statistic(self.policy, observed, latents[-1])
                    if self.label_actions
                    else observed.new_empty(len(observed), 0)
                )
                estimate = self.module(flat)
            histories.append(flat)
            deployable.append(observed)
            actions = body_actions(self.policy, observed, estimate, False)
            observations, _, dones, infos = self.venv.step(actions)
            self.raw = np.asarray(observations, np.float32)
            self.history.push(self.raw[:, self.latest], actions)
            for index in np.flatnonzero(dones):
                self.history.start(int(index), self.raw[index, self.latest])
                episode = infos[index].get("episode")
                if episode is not None:
                    returns.append(float(episode["r"]))
        if not histories:
            return None
        columns = (histories, deployable, latents, teacher_actions)
        return Samples(*(torch.cat(column) for column in columns)), returns


def _student_envs(teacher: ExperimentConfig, episode_steps: int | None) -> ExperimentConfig:
    """The teacher's training envs with its statistics frozen (no VecNormalize updates), their
    episodes cut at ``episode_steps`` where given (gymnasium's time limit)."""
    env = teacher.env
    if episode_steps is not None:
        kwargs = {**env.kwargs, "max_episode_steps": episode_steps}
        env = env.model_copy(update={"kwargs": kwargs})
    return teacher.model_copy(update={"normalize": NormalizeConfig(), "env": env})


def _next_multiple(steps: int, every: int) -> int:
    """The first multiple of ``every`` above ``steps``; 0 when checkpoints are off."""
    return (steps // every + 1) * every if every else 0


def _save_checkpoint(run: Run, regression: Regression, steps: int, keep: int) -> Path:
    folder = run.path / PHASE2_CHECKPOINTS
    final = folder / f"step_{steps:09d}"
    if final.is_dir():
        return final
    folder.mkdir(parents=True, exist_ok=True)
    with staged_directory(final) as staging:
        torch.save(regression.module.state_dict(), staging / CHECKPOINT_MODULE_FILE)
        torch.save(regression.optimizer.state_dict(), staging / OPTIMIZER_FILE)
        write_json(staging / "checkpoint.json", {"student_timesteps": steps, "created": now_iso()})
    for _, old in phase2_checkpoints(run.path)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def _restore(run: Run, regression: Regression) -> int:
    """Student steps done: those of the latest phase-2 checkpoint (loaded), else 0."""
    checkpoints = phase2_checkpoints(run.path)
    if not checkpoints:
        return 0
    steps, path = checkpoints[-1]
    regression.module.load_state_dict(load_module_weights(path / CHECKPOINT_MODULE_FILE))
    regression.optimizer.load_state_dict(
        torch.load(path / OPTIMIZER_FILE, map_location="cpu", weights_only=True)
    )
    read_json(path / "checkpoint.json")
    return steps


def _finish(
    run: Run, cfg: ExperimentConfig, module: Any, steps: int, say: Callable[[str], None]
) -> None:
    """adaptation.pt first (nothing after can lose it), then the student's evaluation."""
    with atomic_path(run.path / MODULE_FILE) as staging:
        torch.save(module.state_dict(), staging)
    student = StudentPolicy.from_run(run.path)
    conditions = evaluation_conditions(cfg)
    seed = cfg.seed + EVAL_SEED_OFFSET
    results = {}
    for condition in conditions:
        env = make_env(cfg.env.id, condition, cfg.env.kwargs)
        try:
            batch = rollout(
                student, env, seed, cfg.evaluation.episodes, cfg.evaluation.deterministic
            )
        finally:
            env.close()
        results[condition.name] = batch.returns
    summary = summarize(results, conditions, steps, cfg.evaluation.deterministic, seed)
    write_json(run.summary_path, summary)
    meta = run.meta
    run.update_meta(
        status="finished",
        student_timesteps=steps,
        timesteps=int(meta.get("teacher_timesteps", 0)) + steps,
        finished=now_iso(),
    )
    say(
        f"\nthe student after {steps:,} student steps "
        f"({cfg.evaluation.episodes} episodes per condition):"
    )
    say(summary_table(summary))
    say(f"\nrun directory: {run.path}")
