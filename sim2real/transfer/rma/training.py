"""``sim2real train`` of a config with ``adaptation:``: the teacher, then the student.

Phase 1 trains the teacher as an ordinary run in ``RUN/teacher`` (the config with
``env.kwargs.privileged: true``, so the policy's features extractor is the privileged encoder;
see :mod:`sim2real.transfer.rma.networks`). Phase 2 (:mod:`sim2real.transfer.rma.phase2`)
fits the adaptation module to the frozen teacher (its latent, or its actions) with the student
acting. With ``adaptation.teacher`` phase 1 copies the finished teacher of another run instead of
training one (:func:`reused_teacher` checks it matches before any work). run.json's ``phase``
says where the run is, so ``--resume`` continues either phase; the layout is in
:mod:`sim2real.transfer.rma.layout`.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from sim2real.config import ExperimentConfig, config_to_dict, parse_config
from sim2real.errors import UserError, describe, short_repr
from sim2real.io import atomic_path, staged_directory, write_json
from sim2real.randomization.spec import spec_to_data
from sim2real.runs import (
    CHECKPOINTS_DIR,
    CONFIG_FILE,
    META_FILE,
    MODEL_FILE,
    NORMALIZATION_FILE,
    Run,
    check_run_dir_apart,
    check_run_dir_free,
    create_run,
    default_run_dir,
    now_iso,
    remove_run_dir,
)
from sim2real.transfer.rma.layout import PHASES, TEACHER_DIR
from sim2real.warm_start import check_initial_run, load_initial_policy

TEACHER_SUFFIX = "_teacher"
# What does not change what a teacher learns: a reused teacher may differ from the config there.
NOT_TRAINING_FIELDS = ("name", "targets", "evaluation", "checkpoint", "device", "vec_env")
# The adaptation fields a teacher is built with (privileged_parameters is in its env's layout).
TEACHER_ADAPTATION_FIELDS = ("latent_size", "encoder_layers")


def is_student_config(cfg: ExperimentConfig) -> bool:
    """A config whose ``train`` runs both phases (its teacher config has privileged obs)."""
    return cfg.adaptation is not None and not cfg.env.kwargs.get("privileged", False)


def teacher_config(cfg: ExperimentConfig, source: str) -> ExperimentConfig:
    """The teacher's config: the same, with its own name and the privileged observation laid
    out by the training spec's terms of ``adaptation.privileged_parameters`` (all of them by
    default), so its evaluations without DR see the same entries."""
    assert cfg.adaptation is not None
    data = config_to_dict(cfg)
    data["name"] = cfg.name + TEACHER_SUFFIX
    data["adaptation"]["teacher"] = None  # the teacher config trains; a reused one is copied
    read = cfg.adaptation.privileged_parameters
    terms = [term for term in cfg.randomization.terms if read is None or term.parameter in read]
    layout = {"terms": spec_to_data(dataclasses.replace(cfg.randomization, terms=tuple(terms)))}
    data["env"]["kwargs"] = {**data["env"].get("kwargs", {}), "privileged": layout}
    return parse_config(data, source=f"{source} (the teacher of its adaptation: section)")


def train_adaptation(
    cfg: ExperimentConfig | None,
    run_dir: str | Path | None,
    *,
    overwrite: bool,
    resume: bool,
    progress_bar: bool,
    verbose: bool,
    source: str,
    on_evaluation: Callable[[int, Mapping[str, np.ndarray]], None] | None = None,
) -> Run:
    """Both phases into ``run_dir`` (see the module docstring); returns the top-level Run.

    ``on_evaluation`` receives the teacher's evaluations (phase 2 has none: it regresses).
    """
    run, created = _open_or_create(cfg, run_dir, overwrite, resume, source)
    before = run.meta
    phase = run.meta.get("phase", PHASES[0])
    if resume:
        resumes = [*run.meta.get("resumes", []), {"phase": phase, "at": now_iso()}]
        run.update_meta(status="running", interrupted_by=None, error=None, resumes=resumes)
    try:
        return _train_phases(run, progress_bar, verbose, on_evaluation)
    except UserError as error:
        if run.meta.get("status") == "running":  # a check refused before its phase trained
            if created and run.meta.get("phase") == phase:
                remove_run_dir(run)  # nothing trained: leave nothing behind
            elif run.meta.get("phase") == phase:
                write_json(run.meta_path, before)  # the resume did nothing: as it was
            else:  # the teacher trained, then phase 2 refused
                run.update_meta(status="failed", error=describe(error), stopped=now_iso())
        raise


def _train_phases(
    run: Run,
    progress_bar: bool,
    verbose: bool,
    on_evaluation: Callable[[int, Mapping[str, np.ndarray]], None] | None,
) -> Run:
    from sim2real.training import train

    say: Callable[[str], None] = print if verbose else (lambda message: None)
    cfg = run.config
    teacher = teacher_config(cfg, str(run.config_path))
    teacher_dir = run.path / TEACHER_DIR
    if run.meta.get("phase", PHASES[0]) == "teacher":
        origin: dict[str, str] = {}
        assert cfg.adaptation is not None
        if cfg.adaptation.teacher is not None:
            teacher_run = _copy_teacher(run, cfg, teacher, say)
            origin["teacher_from"] = str(teacher_run.meta.get("copied_from", ""))
        else:
            teacher_run = _train_teacher(
                train, teacher, teacher_dir, progress_bar, verbose, say, on_evaluation
            )
        meta = teacher_run.meta
        if meta["status"] != "finished":
            run.update_meta(
                status=meta["status"],
                interrupted_by=meta.get("interrupted_by"),
                error=meta.get("error"),
                stopped=now_iso(),
            )
            say(
                f"the teacher stopped ({meta['status']}); "
                f"continue with: sim2real train --resume {run.path}"
            )
            return run
        _install_body(run, teacher_run)
        run.update_meta(phase="student", teacher_timesteps=meta["timesteps"], **origin)
    from sim2real.transfer.rma.phase2 import train_student

    return train_student(run, cfg, teacher, progress_bar=progress_bar, say=say)


def _open_or_create(
    cfg: ExperimentConfig | None,
    run_dir: str | Path | None,
    overwrite: bool,
    resume: bool,
    source: str,
) -> tuple[Run, bool]:
    """The run to continue (checked like any resume), or a new one; and whether it is new."""
    if resume:
        run = Run.open(run_dir)  # type: ignore[arg-type]
        meta = run.meta
        if cfg is not None and config_to_dict(cfg) != config_to_dict(run.config):
            raise UserError(
                f"{run.config_path}: differs from the config given; a resumed run continues "
                "with its own config (omit the config to resume)"
            )
        if meta.get("status") == "finished":
            raise UserError(
                f"{run.path}: field 'status' = 'finished' (phase {meta.get('phase')!r}); "
                "nothing to resume, train a new run instead"
            )
        if meta.get("phase") not in PHASES:
            raise UserError(
                f"{run.meta_path}: field 'phase' = {meta.get('phase')!r}; must be one of "
                f"{', '.join(PHASES)}; the run directory is damaged"
            )
        return run, False
    assert cfg is not None
    path = Path(run_dir) if run_dir is not None else default_run_dir(cfg.name, cfg.seed)
    teacher = teacher_config(cfg, source)  # refused here, before the run directory exists
    adaptation = cfg.adaptation
    assert adaptation is not None
    if adaptation.teacher is not None:  # first: it says why the run it names is not free
        reused_teacher(cfg, teacher, source, path)
    check_run_dir_free(path, overwrite)
    if adaptation.teacher is None and teacher.init_from is not None:
        # Before --overwrite could delete it or the run it names.
        _check_teacher_start(teacher, source, path)
    phase = {
        "phase": "teacher",
        "total_timesteps": cfg.total_timesteps + adaptation.timesteps,
        "teacher_timesteps": 0,
        "student_timesteps": 0,
    }
    return create_run(path, cfg, overwrite=overwrite, device="cpu", meta=phase), True


def reused_teacher(
    cfg: ExperimentConfig, teacher: ExperimentConfig, source: str, run_dir: Path
) -> Run:
    """The finished teacher ``adaptation.teacher`` names (an adaptation run or its teacher/),
    if it is the teacher ``cfg`` would train: every field its training reads equal. A one-line
    UserError otherwise; cheap, so callers run it before they write any run directory."""
    assert cfg.adaptation is not None and cfg.adaptation.teacher is not None
    where = f"{source}: field 'adaptation.teacher' = {cfg.adaptation.teacher!r}"
    try:
        named = Run.open(cfg.adaptation.teacher)
        nested = named.path / TEACHER_DIR
        found = Run.read(nested if (nested / META_FILE).is_file() else named.path)
    except UserError as error:
        raise UserError(f"{where}: {error}") from None
    if not found.config.env.kwargs.get("privileged") or found.config.adaptation is None:
        raise UserError(f"{where}: not an adaptation run nor its teacher")
    if found.meta["status"] != "finished":
        raise UserError(
            f"{where}: its teacher has not finished (status {found.meta['status']!r}); "
            f"finish it first (sim2real train --resume {named.path})"
        )
    check_run_dir_apart(where, run_dir, named.path)
    difference = _first_difference(_teacher_training(found.config), _teacher_training(teacher))
    if difference is not None:
        field, there, here = difference
        raise UserError(
            f"{where}: its teacher trained with {field} = {short_repr(there)}, this config's "
            f"would with {short_repr(here)}; a reused teacher must match the config (all but "
            f"{', '.join(NOT_TRAINING_FIELDS)} and the adaptation section's phase-2 ones)"
        )
    return found


def _teacher_training(cfg: ExperimentConfig) -> dict[str, Any]:
    """The fields of a teacher config that change what it learns."""
    data = config_to_dict(cfg)
    for name in NOT_TRAINING_FIELDS:
        data.pop(name, None)
    data["randomization"].pop("source", None)
    data["adaptation"] = {name: data["adaptation"][name] for name in TEACHER_ADAPTATION_FIELDS}
    return data


def _first_difference(there: Any, here: Any, path: str = "") -> tuple[str, Any, Any] | None:
    """``(dotted field, there, here)`` of the first value that differs, or None."""
    if isinstance(there, dict) and isinstance(here, dict):
        for key in [*there, *(key for key in here if key not in there)]:
            found = _first_difference(
                there.get(key), here.get(key), f"{path}.{key}" if path else str(key)
            )
            if found is not None:
                return found
        return None
    if isinstance(there, list) and isinstance(here, list) and len(there) == len(here):
        for index, (a, b) in enumerate(zip(there, here, strict=True)):
            found = _first_difference(a, b, f"{path}[{index}]")
            if found is not None:
                return found
        return None
    return None if there == here else (path, there, here)


def _copy_teacher(
    run: Run, cfg: ExperimentConfig, teacher: ExperimentConfig, say: Callable[[str], None]
) -> Run:
    """Phase 1 of a run with ``adaptation.teacher``: the finished teacher copied (without its
    checkpoints: it never trains again), its origin in its run.json's ``copied_from``."""
    teacher_dir = run.path / TEACHER_DIR
    if not (teacher_dir / META_FILE).is_file():  # else an earlier attempt finished the copy
        found = reused_teacher(cfg, teacher, str(run.config_path), run.path)
        say(f"phase 1 (teacher): copying the finished teacher {found.path}")
        try:
            # A fixed staging folder: a copy killed midway is replaced by the next attempt.
            with staged_directory(teacher_dir, run.path / ".teacher-copy") as staging:
                ignore = shutil.ignore_patterns(CHECKPOINTS_DIR)
                shutil.copytree(found.path, staging, ignore=ignore, dirs_exist_ok=True)
                copied = Run(staging)
                copied.update_meta(copied_from=str(found.path.resolve()))
        except BaseException:  # a signal or a failed copy: nothing of it is left
            run.update_meta(status="interrupted", stopped=now_iso())
            say(f"the teacher's copy stopped; continue with: sim2real train --resume {run.path}")
            raise
    return Run.open(teacher_dir)


def _check_teacher_start(teacher: ExperimentConfig, source: str, path: Path) -> None:
    """Every check of the teacher's ``init_from``, those that need the policies included (the
    action bounds, what the source's actor reads): the teacher is built (its envs in this
    process) and started, then dropped."""
    from sim2real.training import build_model, make_training_env

    check_initial_run(teacher, source, path)
    in_process = teacher.model_copy(update={"vec_env": "dummy"})
    venv = make_training_env(in_process)
    try:
        model = build_model(in_process, venv, "cpu", source)
        load_initial_policy(in_process, model, venv, source, path)
    finally:
        venv.close()


def _train_teacher(
    train: Any,
    teacher: ExperimentConfig,
    teacher_dir: Path,
    progress_bar: bool,
    verbose: bool,
    say: Callable[[str], None],
    on_evaluation: Callable[[int, Mapping[str, np.ndarray]], None] | None,
) -> Run:
    """Phase 1: train, continue or (when it never reached a checkpoint) restart the teacher."""
    options = {"progress_bar": progress_bar, "verbose": verbose, "on_evaluation": on_evaluation}
    if (teacher_dir / "run.json").is_file():
        teacher_run = Run.open(teacher_dir)
        if teacher_run.meta.get("status") == "finished":
            return teacher_run
        if teacher_run.latest_checkpoint() is not None:
            say(f"phase 1 (teacher): continuing {teacher_dir}")
            return train(None, teacher_dir, resume=True, **options)
    say(f"phase 1 (teacher): {teacher_dir}")
    # Errors name the run's config.yaml, not the teacher's derived name.
    source = str(teacher_dir.parent / CONFIG_FILE)
    return train(teacher, teacher_dir, overwrite=True, source=source, **options)


def _install_body(run: Run, teacher: Run) -> None:
    """The teacher's final model (and statistics) become the student's frozen body."""
    for name in (MODEL_FILE, NORMALIZATION_FILE):
        if (teacher.path / name).is_file():
            with atomic_path(run.path / name) as staging:
                shutil.copyfile(teacher.path / name, staging)
