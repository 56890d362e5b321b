"""The ``sysid`` strategy: identify the target's dynamics from recorded data, then fine-tune the
policy in simulation under the spec re-centred on the fit.

``transfer_sysid(run, data)`` checks everything first (the source run, the data file against
the run's env, the spec, the parameters, the budgets, the run directory), then runs
:func:`sim2real.sysid.identify.identify` on the data with the source run's training spec (or
another) as the search ranges, and fine-tunes the source model for ``finetune_budget``
*simulation* steps under the re-centred spec ``identify`` writes. The run directory is that of
any transfer run, plus ``sysid/`` (everything ``sim2real identify`` writes). The target samples
it used are the recorded steps (``transfer.target_samples`` in run.json): fine-tuning draws no
target samples.

The learning curve is measured on ``target`` when one is given (a simulated stand-in for the
robot, as in the benchmarks); otherwise on the identified target (``sysid/target.yaml``),
which is all a user with a real robot's logs has.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from sim2real import limits
from sim2real.data import load_data
from sim2real.errors import UserError
from sim2real.lifecycle import torch_threads
from sim2real.randomization import RandomizationSpec, load_spec
from sim2real.runs import Run, check_run_dir_free, create_run, default_run_dir, remove_run_dir
from sim2real.sysid.identify import Identification, identify, plan, prepare
from sim2real.sysid.report import TARGET_NAME, write_outputs
from sim2real.targets import Target, load_target
from sim2real.training import select_device
from sim2real.transfer.finetune import (
    build_setup,
    check_fine_tunable,
    check_target_env,
    note_partial_rollout,
    resolve_target,
    transfer_meta,
)
from sim2real.transfer.strategies import (
    TransferOptions,
    check_budget,
    default_eval_freq,
    transfer_config,
)
from sim2real.transfer.target_learning import close_setup, learn_on_target

__all__ = ["SYSID_DIR", "default_finetune_budget", "transfer_sysid"]

SYSID_DIR = "sysid"
FINETUNE_FRACTION = 10  # default fine-tuning budget: a tenth of the source run's training


def default_finetune_budget(source_timesteps: int) -> int:
    return max(1, source_timesteps // FINETUNE_FRACTION)


def transfer_sysid(
    run: Run | str | Path,
    data: str | Path,
    finetune_budget: int | None = None,
    *,
    target: Target | str | Path | None = None,
    randomization: RandomizationSpec | str | Path | None = None,
    params: Sequence[str] = (),
    identify_budget: int = 1000,
    workers: int = 1,
    horizon: int = 10,
    torques: bool = True,
    normalization: str = "keep",
    seed: int | None = None,
    run_dir: str | Path | None = None,
    overwrite: bool = False,
    eval_freq: int | None = None,
    eval_episodes: int | None = None,
    progress_bar: bool = True,
    verbose: bool = True,
) -> Run:
    """Identify from ``data``, fine-tune ``run``'s policy under the re-centred spec; the new Run.

    Args:
        run: the source run (its final model is fine-tuned).
        data: a data file of ``sim2real record`` from the target (or a robot's logs).
        finetune_budget: simulation steps of fine-tuning (default a tenth of the source's).
        target: where the learning curve is measured (default: the identified target).
        randomization: the ranges identify searches (default: the source run's training spec).
        params, identify_budget, workers, horizon, torques: as ``sim2real identify``'s
            options (``torques=False`` is its ``--no-torques``).
        normalization, seed, run_dir, overwrite, eval_freq, eval_episodes: as ``transfer``'s.
    """
    options = TransferOptions("sysid", normalization=normalization)
    source = Run.read(run.path if isinstance(run, Run) else run, model=True)
    source_cfg = source.config
    check_fine_tunable(source)
    if not source.has_final_policy:
        raise UserError(
            f"{source.model_path}: no model to fine-tune; the source run has no final model"
        )
    seed = source_cfg.seed if seed is None else seed
    limits.check_count(seed, limits.SEED, "option '--seed'", minimum=0)
    spec = _search_spec(randomization, source_cfg.randomization, source.config_path)
    recorded_on = load_data(data).env_id
    if recorded_on != source_cfg.env.id:
        raise UserError(
            f"{data}: recorded on env {recorded_on!r}, but the source run {source.path} "
            f"trains {source_cfg.env.id!r}; record data on the run's env"
        )
    setup = prepare(
        data, spec, params, identify_budget, workers, seed, horizon, "--identify-budget", torques
    )
    evaluated_on = resolve_target(target) if target is not None else None
    if evaluated_on is not None:
        check_target_env(evaluated_on, source_cfg, source)
    default_budget = default_finetune_budget(source_cfg.total_timesteps)
    budget = check_budget(
        default_budget if finetune_budget is None else finetune_budget, "--finetune-budget"
    )
    freq = (
        default_eval_freq(budget) if eval_freq is None else check_budget(eval_freq, "--eval-freq")
    )
    episodes = source_cfg.evaluation.episodes if eval_episodes is None else eval_episodes
    limits.check_count(episodes, limits.EPISODES, "option '--eval-episodes'")
    target_name = evaluated_on.name if evaluated_on is not None else TARGET_NAME
    name = f"{source_cfg.name}-to-{target_name}-sysid"
    path = Path(run_dir) if run_dir is not None else default_run_dir(name, seed)
    if path.resolve() == source.path.resolve():
        raise UserError(f"{path}: is the source run itself; choose another --run-dir")
    check_run_dir_free(path, overwrite)
    algorithm = source_cfg.algorithm
    label = str(source.config_path)
    device, reason = select_device(algorithm.name, algorithm.policy, source_cfg.device, label)

    say = print if verbose else _quiet
    say(plan(setup))
    result = identify(setup)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}-sysid-"))
    try:
        write_outputs(result, staging / SYSID_DIR)
        _say_fit(say, result)
        if evaluated_on is None:
            evaluated_on = _identified_target(result, staging, path, data)
        world = {
            "source": f"re-centred by sim2real identify on {Path(data).name}",
            "terms": yaml.safe_load((staging / SYSID_DIR / "spec.yaml").read_text())["terms"],
        }
        cfg = transfer_config(
            source_cfg, evaluated_on, options, budget, seed, freq, episodes, world=world
        )
        built = dataclasses.replace(
            build_setup(cfg, source, evaluated_on, options, device), steps="simulation steps"
        )
        if verbose:
            note_partial_rollout(cfg, "--finetune-budget", "simulation steps")
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    try:
        created = create_run(
            path,
            cfg,
            overwrite=overwrite,
            device=device,
            source_run=str(source.path.resolve()),
            strategy=options.strategy,
        )
        os.replace(staging / SYSID_DIR, created.path / SYSID_DIR)
    except BaseException:
        close_setup(built)
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(staging, ignore_errors=True)
    try:
        meta = transfer_meta(source, source_cfg, evaluated_on, options, built)
        created.update_meta(transfer={**meta, **_sysid_meta(result, data, target is None)})
    except BaseException:
        close_setup(built)
        remove_run_dir(created)
        raise
    try:
        with torch_threads(device):
            say(
                f"fine-tuning (sysid) {source.path} for {budget:,} simulation steps under the "
                f"re-centred spec; learning curve on {evaluated_on.name!r} -> {created.path}"
            )
            say(f"normalization: {built.normalization}; device: {device} ({reason})")
            say(f"TensorBoard: tensorboard --logdir {created.tb_dir}")
            return learn_on_target(created, built, say, progress_bar)
    finally:
        close_setup(built)


def _search_spec(
    randomization: RandomizationSpec | str | Path | None,
    training_spec: RandomizationSpec,
    config_path: Path,
) -> RandomizationSpec:
    """The ranges to search: the given spec, else the source run's training spec."""
    if randomization is None:
        if not training_spec.terms:
            raise UserError(
                f"{config_path}: field 'randomization' has no terms, so there are no ranges to "
                "identify within; pass --randomization SPEC"
            )
        return training_spec
    if isinstance(randomization, RandomizationSpec):
        return randomization
    return load_spec(randomization)


def _identified_target(result: Identification, staging: Path, final: Path, data: Any) -> Target:
    """The fitted target, named where it will lie in the run directory."""
    written = staging / SYSID_DIR / "target.yaml"
    if not result.identified:
        kept = final.with_name(f"{final.name}.identify")
        shutil.rmtree(kept, ignore_errors=True)
        os.replace(staging / SYSID_DIR, kept)
        raise UserError(
            f"{data}: no value identified (report in {kept}), so there is no identified target "
            "to evaluate on; pass --target FILE, record more data or fit fewer --params"
        )
    loaded = load_target(written)
    return dataclasses.replace(loaded, path=(final / SYSID_DIR / "target.yaml").resolve())


def _sysid_meta(result: Identification, data: str | Path, identified_target: bool) -> dict:
    """What run.json adds for sysid: the target samples spent, and the identification."""
    recorded = result.setup.data
    return {
        "target_samples": recorded.steps,
        "target_episodes": recorded.episodes,
        "data": str(Path(data).resolve()),
        "sysid_dir": SYSID_DIR,
        "evaluated_on": "identified target" if identified_target else "given target",
        "identified": {
            fit.coordinate.name: {"value": fit.value, "std": fit.std} for fit in result.identified
        },
        "not_identified": [fit.coordinate.name for fit in result.fits if not fit.identified],
        "identify_loss": {"nominal": result.nominal_loss, "fit": result.fit_loss},
        "timesteps_counted": "simulation samples under the re-centred spec; the target samples "
        "are the recorded steps (target_samples)",
    }


def _say_fit(say: Any, result: Identification) -> None:
    say(
        f"identified {len(result.identified)} of {len(result.fits)} value(s): loss "
        f"{result.nominal_loss:.4g} (nominal) -> {result.fit_loss:.4g} in {result.wall_s:.1f} s"
    )


def _quiet(message: str) -> None:
    del message
