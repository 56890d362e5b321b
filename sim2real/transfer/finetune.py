"""Fine-tuning a trained policy on a target, into a new run directory.

``transfer(run, target, budget, strategy)`` loads the source run's final model (or, for
``scratch``, builds a fresh one from the source config), trains it for ``budget`` steps in
the target world (see :mod:`sim2real.transfer.strategies`) and writes a run directory like
``sim2real train`` does: ``config.yaml`` (the transfer config), ``run.json`` (with
``source_run``, ``strategy`` and a ``transfer`` block), ``model.zip``, ``normalization.npz``,
``tb/`` and ``evaluations.json``: the learning curve on the target (and on nominal source
dynamics, which shows what fine-tuning forgets), evaluated first at step 0 so the jumpstart
is measured, then every ``eval_freq`` target steps. Timesteps count target samples only.

Observation/reward normalization: ``keep`` uses the source statistics unchanged (the
VecNormalize is put in inference mode), ``refit`` keeps updating them from target data;
``scratch`` starts with fresh statistics. A transfer with neither frozen layers nor frozen
statistics is resumable with ``sim2real train --resume`` (see
:func:`sim2real.transfer.strategies.resumable`): an oracle trained with ``scratch`` survives
being cut off.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecEnv, VecNormalize

from sim2real import limits
from sim2real.config import ExperimentConfig, resolve_config_path
from sim2real.errors import UserError
from sim2real.evaluation.conditions import transfer_conditions
from sim2real.evaluation.training_eval import make_condition_envs
from sim2real.hyperparams import ON_POLICY, hyperparam
from sim2real.lifecycle import torch_threads
from sim2real.runs import Run, check_run_dir_free, create_run, default_run_dir, remove_run_dir
from sim2real.targets import Target, load_target, shipped_targets
from sim2real.training import build_model, load_checkpoint_model, make_training_env, select_device
from sim2real.transfer.freeze import freeze_actor, trainable_fraction
from sim2real.transfer.strategies import (
    SIMULATED,
    TransferOptions,
    check_budget,
    default_eval_freq,
    resumable,
    transfer_config,
)
from sim2real.transfer.target_learning import TargetSetup, close_setup, learn_on_target


def resolve_target(target: Target | str | Path) -> Target:
    """A Target from a Target, a path or a shipped name (``cartpole_heavy.yaml``)."""
    if isinstance(target, Target):
        return target
    return load_target(resolve_config_path(target, kind="target"))


def transfer(
    run: Run | str | Path,
    target: Target | str | Path,
    budget: int,
    strategy: str = "full",
    *,
    lr_scale: float | None = None,
    freeze_layers: int | None = None,
    normalization: str = "keep",
    dr_width: float | None = None,
    seed: int | None = None,
    run_dir: str | Path | None = None,
    overwrite: bool = False,
    eval_freq: int | None = None,
    eval_episodes: int | None = None,
    progress_bar: bool = True,
    verbose: bool = True,
) -> Run:
    """Fine-tune ``run``'s policy on ``target`` for ``budget`` target steps; returns the new Run.

    Args:
        run: the source run (a directory written by ``sim2real train``).
        target: a Target, a target file or a shipped target name.
        budget: target-environment steps of fine-tuning (``scratch``: of training).
        strategy: ``full`` | ``freeze`` | ``lr`` | ``narrow_dr`` | ``scratch``.
        lr_scale: ``lr`` only: learning-rate factor (default 0.1; a schedule stays a schedule).
        freeze_layers: ``freeze`` only: hidden layers of the actor frozen (default all).
        normalization: ``keep`` the source statistics fixed or ``refit`` them on target data.
        dr_width: ``narrow_dr`` only: relative half-width around the target (default 0.1).
        seed: default the source run's seed.
        run_dir: default ``runs/<source name>-to-<target>-<strategy>-seed<seed>``.
        eval_freq: target steps between evaluations (default budget / 10).
        eval_episodes: episodes per evaluation (default the source config's).
    """
    options = TransferOptions(strategy, lr_scale, freeze_layers, normalization, dr_width)
    if strategy in SIMULATED:
        raise UserError(
            f"strategy {strategy!r} learns from a data file, not on the target: use "
            "sim2real.transfer.sysid.transfer_sysid (CLI: transfer RUN --strategy sysid --data)"
        )
    source = Run.read(run.path if isinstance(run, Run) else run, model=strategy != "scratch")
    if strategy != "scratch":
        check_fine_tunable(source)
    budget = check_budget(budget)
    target = resolve_target(target)
    source_cfg = source.config
    check_target_env(target, source_cfg, source)
    if strategy != "scratch" and not source.has_final_policy:
        raise UserError(
            f"{source.model_path}: no model to fine-tune; the source run has no final model"
        )
    freq = (
        default_eval_freq(budget) if eval_freq is None else check_budget(eval_freq, "--eval-freq")
    )
    episodes = source_cfg.evaluation.episodes if eval_episodes is None else eval_episodes
    limits.check_count(episodes, limits.EPISODES, "option '--eval-episodes'")
    seed = source_cfg.seed if seed is None else seed
    limits.check_count(seed, limits.SEED, "option '--seed'", minimum=0)
    cfg = transfer_config(source_cfg, target, options, budget, seed, freq, episodes)
    path = Path(run_dir) if run_dir is not None else default_run_dir(cfg.name, cfg.seed)
    if path.resolve() == source.path.resolve():
        raise UserError(f"{path}: is the source run itself; choose another --run-dir")
    check_run_dir_free(path, overwrite)
    label = str(source.config_path)
    device, reason = select_device(cfg.algorithm.name, cfg.algorithm.policy, cfg.device, label)
    setup = build_setup(cfg, source, target, options, device)
    if verbose:  # only once the inputs are known good: errors stay one line
        note_partial_rollout(cfg, "--budget", "target steps")
    say: Callable[[str], None] = print if verbose else _quiet
    try:
        created = create_run(
            path,
            cfg,
            overwrite=overwrite,
            device=device,
            source_run=str(source.path.resolve()),
            strategy=strategy,
        )
    except BaseException:
        close_setup(setup)
        raise
    try:
        meta = transfer_meta(source, source_cfg, target, options, setup)
        created.update_meta(transfer=meta)
    except BaseException:
        close_setup(setup)
        remove_run_dir(created)
        raise
    try:
        with torch_threads(device):
            _announce(say, source, target, options, setup, created, device, reason)
            return learn_on_target(created, setup, say, progress_bar)
    finally:
        close_setup(setup)


def check_fine_tunable(source: Run) -> None:
    """An RMA run's policy is a student (adaptation module + frozen teacher): not one SB3
    model that fine-tuning could continue."""
    if source.config.adaptation is not None:
        raise UserError(
            f"{source.path}: an RMA run (its config has 'adaptation:') cannot be fine-tuned: "
            "its student is an adaptation module on a frozen teacher; evaluate it zero-shot, "
            "or train an oracle from its config with --strategy scratch"
        )


def check_target_env(target: Target, cfg: ExperimentConfig, source: Run) -> None:
    if target.env_id != cfg.env.id:
        names = ", ".join(t.path.name for t in shipped_targets(cfg.env.id)) or "none"
        raise UserError(
            f"{target.path}: field 'env_id' = {target.env_id!r}; the source run {source.path} "
            f"trains {cfg.env.id!r}; use a target of that env (shipped: {names})"
        )


def build_setup(
    cfg: ExperimentConfig, source: Run, target: Target, options: TransferOptions, device: str
) -> TargetSetup:
    conditions = transfer_conditions(target)
    eval_envs: dict[str, VecEnv] = {}
    venv: VecEnv | None = None
    try:
        eval_envs = make_condition_envs(cfg, conditions)
        venv = make_training_env(cfg)
        mode = _normalization_mode(cfg, source, options)
        if options.strategy == "scratch":
            model = build_model(cfg, venv, device, str(source.config_path))
        else:
            model = _load_source_model(cfg, source, venv, device)
            model.set_random_seed(cfg.seed)  # same env seeds as a scratch run of this seed
            if isinstance(venv, VecNormalize):
                venv.training = mode == "refit"  # keep: inference mode, statistics frozen
        frozen = None
        if options.strategy == "freeze":
            frozen = freeze_actor(model, options.freeze_layers)
    except BaseException:
        if venv is not None:
            venv.close()
        for env in eval_envs.values():
            env.close()
        raise
    resume = resumable(source.config, options)
    return TargetSetup(cfg, model, venv, eval_envs, conditions, mode, frozen, resume)


def _normalization_mode(cfg: ExperimentConfig, source: Run, options: TransferOptions) -> str:
    normalizes = cfg.normalize.observations or cfg.normalize.rewards
    if options.strategy == "scratch":
        return "fresh" if normalizes else "none"
    if not normalizes:
        if options.normalization == "refit":
            raise UserError(
                f"{source.config_path}: field 'normalize' = off; --normalization refit needs a "
                "source run that normalizes observations or rewards"
            )
        return "none"
    if not source.normalization_path.is_file():
        raise UserError(
            f"{source.normalization_path}: missing, but the source config normalizes; "
            "the source run did not finish writing its statistics"
        )
    return options.normalization


def _load_source_model(
    cfg: ExperimentConfig, source: Run, venv: VecEnv, device: str
) -> BaseAlgorithm:
    """The source's final model on the target envs, schedules rebuilt from the transfer config.

    The run directory holds model.zip and normalization.npz like a checkpoint does, so the
    training module's checkpoint loader restores both (statistics into the VecNormalize).
    """
    try:
        return load_checkpoint_model(cfg, source.path, venv, device)
    except Exception as error:  # SB3 raises whatever a damaged or mismatched zip provokes
        first = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        raise UserError(
            f"{source.model_path}: cannot fine-tune it on {cfg.env.id} as a "
            f"{cfg.algorithm.name} model: {type(error).__name__}: {first}"
        ) from None


def transfer_meta(
    source: Run,
    source_cfg: ExperimentConfig,
    target: Target,
    options: TransferOptions,
    setup: TargetSetup,
) -> dict[str, Any]:
    """The ``transfer`` block of run.json: everything ``compare`` and a reader need."""
    cfg = setup.config
    meta: dict[str, Any] = {
        "name": cfg.name,
        "strategy": options.strategy,
        "target": target.name,
        "target_file": str(target.path),
        "target_description": target.description,
        "env_id": cfg.env.id,
        "budget": cfg.total_timesteps,
        "target_samples": collected_steps(cfg),  # sysid: the recorded steps instead
        "normalization": setup.normalization,
        "source_run": str(source.path.resolve()),
        "source_config": source_cfg.name,
        "source_timesteps": source.meta.get("timesteps"),
        "eval_freq_steps": cfg.evaluation.freq_steps,
        "eval_episodes": cfg.evaluation.episodes,
        "timesteps_counted": "target-environment samples only; source training is not counted",
    }
    if options.strategy == "lr":
        meta["lr_scale"] = options.effective_lr_scale
        meta["learning_rate"] = cfg.algorithm.hyperparams["learning_rate"]
    if options.strategy == "narrow_dr":
        meta["dr_width"] = options.effective_dr_width
    if setup.frozen is not None:
        meta["freeze"] = {
            **asdict(setup.frozen.layers),
            "trainable_fraction": trainable_fraction(setup.model.policy),
            "critic": "trains (not part of the deployed policy; its values must follow the "
            "target's returns)",
        }
    return meta


def _announce(
    say: Callable[[str], None],
    source: Run,
    target: Target,
    options: TransferOptions,
    setup: TargetSetup,
    run: Run,
    device: str,
    reason: str,
) -> None:
    cfg = setup.config
    what = "training from scratch" if options.strategy == "scratch" else "fine-tuning"
    say(
        f"{what} ({options.strategy}) {source.path} on target {target.name!r} for "
        f"{cfg.total_timesteps:,} target steps -> {run.path}"
    )
    if setup.frozen is not None:
        frozen = setup.frozen.layers
        say(
            f"frozen: {frozen.layers_frozen} of {frozen.hidden_layers} hidden actor layers "
            f"({len(frozen.frozen)} tensors); training: {', '.join(frozen.trainable_actor)}"
        )
    say(f"normalization: {setup.normalization}; device: {device} ({reason})")
    say(f"TensorBoard: tensorboard --logdir {run.tb_dir}")


def _rollout(cfg: ExperimentConfig) -> int | None:
    """Steps of one on-policy rollout (None for off-policy algorithms)."""
    if cfg.algorithm.name not in ON_POLICY:
        return None
    return hyperparam(cfg.algorithm.name, cfg.algorithm.hyperparams, "n_steps") * cfg.n_envs


def collected_steps(cfg: ExperimentConfig) -> int:
    """Steps a run of ``cfg`` collects (on the target, or in simulation for sysid): on-policy
    SB3 collects whole rollouts, so the budget is rounded up to one."""
    rollout = _rollout(cfg)
    if rollout is None:
        return cfg.total_timesteps
    return -(-cfg.total_timesteps // rollout) * rollout


def note_partial_rollout(cfg: ExperimentConfig, option: str, unit: str) -> None:
    """Say when the budget (``option``, counted in ``unit``) is rounded up to whole rollouts."""
    collected = collected_steps(cfg)
    if collected != cfg.total_timesteps:
        print(
            f"note: {option} {cfg.total_timesteps} is not a multiple of one rollout "
            f"(n_steps x n_envs = {_rollout(cfg)}); {collected} {unit} will be collected",
            file=sys.stderr,
        )


def _quiet(message: str) -> None:
    del message
