"""The run directory: what training (and transfer) writes where.

::

    <run_dir>/
      config.yaml          the resolved config (loads with sim2real.config.load_config)
      run.json             env_id, algorithm, seed, status, timesteps, device, created, ...
      model.zip            final SB3 model
      normalization.npz    VecNormalize statistics when normalization is on
      checkpoints/step_<N:09d>/  model.zip, normalization.npz[, replay_buffer.pkl], checkpoint.json
      tb/                  TensorBoard event files
      evaluations.json     learning curves on nominal dynamics, under DR and on each target
      summary.json         final evaluation table (per condition: mean, std, gap)
      adr.json             ADR runs: bounds, buffers, history (sim2real.transfer.adr_run)

Every file is written atomically and every checkpoint directory is staged under a temporary
name and renamed (:mod:`sim2real.io`), so a killed process never leaves half a file.
"""

from __future__ import annotations

import datetime
import os
import platform
import re
import shlex
import shutil
import warnings
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sim2real.errors import UserError, describe
from sim2real.io import (
    atomic_path,
    atomic_write_text,
    check_output_dir,
    read_json,
    read_json_object,
    read_npz,
    staged_directory,
    write_json,
)
from sim2real.policies.normalization import load_normalization, save_normalization
from sim2real.policies.weights import WEIGHTS_FILE

CONFIG_FILE = "config.yaml"
META_FILE = "run.json"
MODEL_FILE = "model.zip"
NORMALIZATION_FILE = "normalization.npz"
REPLAY_BUFFER_FILE = "replay_buffer.pkl"
CHECKPOINT_META_FILE = "checkpoint.json"
CHECKPOINTS_DIR = "checkpoints"
TB_DIR = "tb"
EVALUATIONS_FILE = "evaluations.json"
SUMMARY_FILE = "summary.json"
# failed: learning or the run's ending raised; run.json's "error" says what, and the model and
# a checkpoint were saved first.
STATUSES = ("running", "finished", "interrupted", "failed")
_CHECKPOINT_NAME = re.compile(r"^step_(\d{9,})$")


def checkpoint_name(timesteps: int) -> str:
    return f"step_{timesteps:09d}"


def default_run_dir(config_name: str, seed: int) -> Path:
    """``runs/<config name>-seed<seed>`` relative to the working directory."""
    return Path("runs") / f"{config_name}-seed{seed}"


def now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def read_meta(path: Path) -> dict[str, Any]:
    """run.json as a mapping (every reader calls ``.get`` on it)."""
    return read_json_object(path, "the file is damaged (it is written by `sim2real train`)")


# The run.json fields every reader relies on, and what each must be.
_META_FIELDS: dict[str, tuple[type, str]] = {
    "env_id": (str, "an env id (a string)"),
    "algorithm": (str, "an algorithm name"),
    "seed": (int, "a whole number >= 0"),
    "status": (str, f"one of {', '.join(STATUSES)}"),
    "timesteps": (int, "a whole number >= 0"),
}


def check_meta(path: Path, meta: Mapping[str, Any]) -> None:
    """The fields of :data:`_META_FIELDS` are there, typed and valid."""
    from sim2real.hyperparams import ALGORITHMS

    for name, (kind, valid) in _META_FIELDS.items():
        value = meta.get(name)
        wrong_type = not isinstance(value, kind) or isinstance(value, bool)
        if (
            wrong_type
            or (kind is int and value < 0)
            or (name == "status" and value not in STATUSES)
            or (name == "algorithm" and value not in ALGORITHMS)
        ):
            if name == "algorithm":
                valid = f"one of {', '.join(ALGORITHMS)}"
            shown = "missing" if name not in meta else f"= {value!r}"
            raise UserError(f"{path}: field '{name}' {shown}; must be {valid}")


# -- the run directory ----------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    path: Path
    timesteps: int


def _export_source(path: Path) -> str:
    """Where an export directory's contract.json says its policy came from, for a message."""
    from sim2real.policies.contract import CONTRACT_FILE

    try:
        source = read_json_object(path / CONTRACT_FILE, "").get("source", {}).get("run")
    except (UserError, AttributeError):  # a damaged contract: say only what is known
        source = None
    if isinstance(source, str) and source:
        return f"its {CONTRACT_FILE} names {source}"
    return f"its {CONTRACT_FILE} names none"


@dataclass(frozen=True)
class Run:
    """A run directory on disk. ``meta`` and ``config`` are read from it on every access."""

    path: Path

    @classmethod
    def open(cls, path: str | Path) -> Run:
        from sim2real.policies.contract import is_export
        from sim2real.policies.zoo import resolve_source

        path = resolve_source(path)  # zoo:NAME is a run directory shipped with sim2real
        if not (path / META_FILE).is_file() and is_export(path):
            raise UserError(
                f"{path}: an exported policy, not a run directory; give the run it was "
                f"exported from ({_export_source(path)})"
            )
        if not (path / META_FILE).is_file() or not (path / CONFIG_FILE).is_file():
            raise UserError(
                f"{path}: not a run directory (needs {META_FILE} and {CONFIG_FILE}); "
                "give a directory written by `sim2real train`"
            )
        return cls(path)

    @classmethod
    def read(cls, path: str | Path, *, model: bool = True) -> Run:
        """Open a run directory and check everything a verb reads from it, before any work.

        run.json (a mapping with env_id, algorithm, seed, status and timesteps of the right
        types), config.yaml (a valid config for the same env and algorithm) and, with
        ``model``, the policy's files: the model zip intact (final, or the latest checkpoint of
        an unfinished run) and the normalization statistics the config says it has. Every
        problem is one :class:`UserError` naming the file.
        """
        run = cls.open(path)
        meta = run.meta
        check_meta(run.meta_path, meta)
        config = run.config
        for name, value in (("env_id", config.env.id), ("algorithm", config.algorithm.name)):
            if meta[name] != value:
                raise UserError(
                    f"{run.meta_path}: field '{name}' = {meta[name]!r} but "
                    f"{CONFIG_FILE} trains {value!r}; the run directory is inconsistent"
                )
        if model:
            run.check_policy_files(config.normalize.observations)
        return run

    def check_policy_files(self, normalizes_observations: bool) -> None:
        """The policy's model zip is intact and its observation statistics are there (when
        the config normalizes observations) and readable."""
        model_path, normalization_path = self.policy_files()
        if model_path.name == WEIGHTS_FILE:
            read_npz(model_path, "a policy weights file (.npz of arrays)")
        else:
            check_model_file(model_path)
        if normalizes_observations and not normalization_path.is_file():
            raise UserError(
                f"{normalization_path}: missing, but {CONFIG_FILE} normalizes observations; "
                "the policy would see unnormalized ones"
            )
        if normalization_path.is_file():
            load_normalization(normalization_path)

    @property
    def meta(self) -> dict[str, Any]:
        return read_meta(self.meta_path)

    @property
    def config(self) -> Any:
        from sim2real.config import load_config
        from sim2real.limits import LargeValueWarning

        # Large sizes were reported when the run was trained; reading it is not the moment.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", LargeValueWarning)
            return load_config(self.config_path)

    @property
    def config_path(self) -> Path:
        return self.path / CONFIG_FILE

    @property
    def meta_path(self) -> Path:
        return self.path / META_FILE

    @property
    def model_path(self) -> Path:
        return self.path / MODEL_FILE

    @property
    def weights_path(self) -> Path:
        """The policy as plain arrays, rebuilt from the config (a zoo entry has no model zip)."""
        return self.path / WEIGHTS_FILE

    @property
    def has_final_policy(self) -> bool:
        return self.model_path.is_file() or self.weights_path.is_file()

    @property
    def normalization_path(self) -> Path:
        return self.path / NORMALIZATION_FILE

    @property
    def tb_dir(self) -> Path:
        return self.path / TB_DIR

    @property
    def checkpoints_dir(self) -> Path:
        return self.path / CHECKPOINTS_DIR

    @property
    def evaluations_path(self) -> Path:
        return self.path / EVALUATIONS_FILE

    @property
    def summary_path(self) -> Path:
        return self.path / SUMMARY_FILE

    def checkpoints(self) -> list[Checkpoint]:
        """Complete checkpoints, oldest first (staging directories are not listed)."""
        if not self.checkpoints_dir.is_dir():
            return []
        found = []
        for entry in self.checkpoints_dir.iterdir():
            match = _CHECKPOINT_NAME.match(entry.name)
            if match and entry.is_dir() and (entry / MODEL_FILE).is_file():
                found.append(Checkpoint(entry, int(match.group(1))))
        return sorted(found, key=lambda checkpoint: checkpoint.timesteps)

    def latest_checkpoint(self) -> Path | None:
        checkpoints = self.checkpoints()
        return checkpoints[-1].path if checkpoints else None

    def update_meta(self, **fields: Any) -> dict[str, Any]:
        meta = {**self.meta, **fields}
        if meta.get("status") not in STATUSES:
            raise ValueError(f"status {meta.get('status')!r} is not one of {STATUSES}")
        write_json(self.path / META_FILE, meta)
        return meta

    def evaluations(self) -> dict[str, Any]:
        if not self.evaluations_path.is_file():
            return empty_evaluations()
        history = read_json(self.evaluations_path)
        check_evaluations(self.evaluations_path, history)
        return history

    def policy_files(self) -> tuple[Path, Path]:
        """The model zip and normalization file a policy is read from: the final ones, or
        those of the latest checkpoint when training was cut short."""
        if self.model_path.is_file():
            return self.model_path, self.normalization_path
        if self.weights_path.is_file():
            return self.weights_path, self.normalization_path
        checkpoint = self.latest_checkpoint()
        if checkpoint is None:
            raise self._missing_model(self.model_path, "missing, and no checkpoint")
        return checkpoint / MODEL_FILE, checkpoint / NORMALIZATION_FILE

    def _missing_model(self, path: Path, what: str) -> UserError:
        """Why there is no model at ``path``: an unfinished run, or a finished one's file gone."""
        if self.meta.get("status") == "finished":
            return UserError(
                f"{path}: {what}, though {META_FILE} says the run finished: the file was moved "
                "or deleted; restore it or train again"
            )
        return UserError(
            f"{path}: {what}; the run has not finished (see {META_FILE}); train it first"
        )

    def summary(self) -> dict[str, Any]:
        if not self.summary_path.is_file():
            raise UserError(f"{self.path}: no {SUMMARY_FILE}; the run has not finished")
        return read_json(self.summary_path)

    def load_model(self, env: Any = None, device: str = "cpu", path: str | Path | None = None):
        """The final model (or the SB3 zip at ``path``, e.g. a checkpoint's) with its class."""
        from sim2real.hyperparams import ALGORITHMS, algorithm_class

        algorithm = self.meta.get("algorithm")
        if not isinstance(algorithm, str) or algorithm not in ALGORITHMS:
            raise UserError(
                f"{self.path / META_FILE}: field 'algorithm' = {algorithm!r}; "
                f"valid: {', '.join(ALGORITHMS)}"
            )
        model_path = Path(path) if path is not None else self.model_path
        if model_path.name == WEIGHTS_FILE and model_path.is_file():
            from sim2real.training import model_from_weights

            return model_from_weights(self.config, model_path, env, device)
        if not model_path.is_file():
            raise self._missing_model(model_path, "no model")
        check_model_file(model_path)
        try:
            return algorithm_class(algorithm).load(model_path, env=env, device=device)
        except Exception as error:  # SB3 raises whatever the bytes provoke (Attribute, Key...)
            raise UserError(
                f"{model_path}: cannot be loaded as a {algorithm} model (the algorithm in "
                f"{META_FILE}): {describe(error)}"
            ) from None


# SB3 model zips hold their hyperparameters in "data" and the weights in "policy.pth".
_MODEL_ENTRIES = ("data", "policy.pth")


def check_model_file(path: Path) -> None:
    """An intact SB3 model zip (a truncated or damaged one fails here, before any work)."""
    if not path.is_file():
        raise UserError(f"{path}: missing; the run has not finished (see {META_FILE})")
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
            names = archive.namelist()
    except (OSError, zipfile.BadZipFile, EOFError, zlib.error) as error:
        raise UserError(f"{path}: not a readable model zip ({error}); it is damaged") from None
    missing = [name for name in _MODEL_ENTRIES if name not in names]
    if damaged is not None or missing:
        what = f"entry {damaged!r} is corrupt" if damaged else f"no entry {missing[0]!r}"
        raise UserError(f"{path}: not an intact SB3 model zip ({what}); it is damaged or cut short")


def check_evaluations(path: Path, history: Any) -> None:
    """evaluations.json: timesteps, and per condition one curve point per timestep."""
    timesteps = history.get("timesteps") if isinstance(history, dict) else None
    curves = history.get("curves") if isinstance(history, dict) else None
    steps = isinstance(timesteps, list) and all(
        isinstance(step, int) and not isinstance(step, bool) and step >= 0 for step in timesteps
    )
    if not steps or not isinstance(curves, dict):
        raise UserError(
            f"{path}: expected a JSON object with 'timesteps' (a list of whole numbers) and "
            "'curves' (a mapping); the file is damaged"
        )
    for name, curve in curves.items():
        numbers = isinstance(curve, list) and all(
            point is None or (isinstance(point, int | float) and not isinstance(point, bool))
            for point in curve
        )
        if not numbers or len(curve) != len(timesteps):
            raise UserError(
                f"{path}: field 'curves.{name}' must be a list of {len(timesteps)} numbers "
                "(one per timestep); the file is damaged"
            )


def empty_evaluations() -> dict[str, Any]:
    return {"timesteps": [], "curves": {}, "returns": {}}


def truncate_evaluations(history: dict[str, Any], max_timesteps: int) -> dict[str, Any]:
    """Drop evaluations after ``max_timesteps`` (written by a process killed after a checkpoint)."""
    keep = [i for i, step in enumerate(history.get("timesteps", [])) if step <= max_timesteps]
    return {
        **history,
        "timesteps": [history["timesteps"][i] for i in keep],
        "curves": {name: [curve[i] for i in keep] for name, curve in history["curves"].items()},
        "returns": {name: [rets[i] for i in keep] for name, rets in history["returns"].items()},
    }


def check_run_dir_free(path: str | Path, overwrite: bool) -> None:
    """Refuse an existing, non-empty directory unless ``overwrite`` and it is a run directory,
    and a location where the directory could not be written."""
    path = Path(path)
    check_output_dir(path, "run directory")
    if not path.is_dir() or not any(path.iterdir()):
        return
    if not overwrite:
        raise UserError(
            f"{path}: run directory already exists; pass --overwrite to replace it or choose "
            f"another --run-dir (`sim2real train --resume {shlex.quote(str(path))}` continues a "
            "run that has checkpoints)"
        )
    if not (path / META_FILE).is_file():
        raise UserError(
            f"{path}: not a run directory (no {META_FILE}); refusing to delete it with --overwrite"
        )


def check_run_dir_apart(where: str, run_dir: str | Path, source: Path) -> None:
    """Refuse a run directory that is ``source`` (a run the new one reads), lies inside it or
    holds it: writing it (or ``--overwrite``) would replace what it reads."""
    written, read = Path(run_dir).resolve(), source.resolve()
    if written == read or written in read.parents or read in written.parents:
        raise UserError(
            f"{where}: the run directory {run_dir} would replace it; give another --run-dir"
        )


def create_run(
    path: str | Path,
    config: Any,
    *,
    overwrite: bool = False,
    device: str = "cpu",
    source_run: str | None = None,
    strategy: str | None = None,
    meta: Mapping[str, Any] | None = None,
) -> Run:
    """Create ``path`` with config.yaml and run.json (status ``running``, plus ``meta``).

    A new directory is written as a hidden sibling renamed to ``path`` once both files are in
    it, so a process killed here leaves no directory that is neither free nor a run (an empty
    directory the user prepared is filled in place)."""
    from sim2real.config import config_to_dict

    path = Path(path)
    check_run_dir_free(path, overwrite)
    config_text = yaml.safe_dump(config_to_dict(config), sort_keys=False)
    run_meta = {
        "env_id": config.env.id,
        "algorithm": config.algorithm.name,
        "seed": config.seed,
        "status": "running",
        "timesteps": 0,
        "total_timesteps": config.total_timesteps,
        "device": device,
        "machine": machine_description(),
        "created": now_iso(),
        "source_run": source_run,
        "strategy": strategy,
        **(meta or {}),
    }
    if overwrite and (path / META_FILE).is_file():
        shutil.rmtree(path)  # a run, and the caller asked to replace it
    if path.is_dir():
        _write_run_files(path, config_text, run_meta)
    else:
        with staged_directory(path) as staging:
            _write_run_files(staging, config_text, run_meta)
    return Run(path)


def _write_run_files(directory: Path, config_text: str, meta: Mapping[str, Any]) -> None:
    atomic_write_text(directory / CONFIG_FILE, config_text)
    write_json(directory / META_FILE, meta)


def machine_description() -> str:
    """Where a run trains, for model cards and benchmarks: OS, CPU, cores, GPU if any."""
    import torch

    cpu = platform.processor() or platform.machine()
    text = f"{platform.system()} {cpu}, {os.cpu_count()} CPU cores"
    if torch.cuda.is_available():
        text += f", {torch.cuda.get_device_name(0)}"
    return text


def remove_run_dir(run: Run) -> None:
    """Delete a run directory that setup created but never trained in."""
    shutil.rmtree(run.path, ignore_errors=True)


# -- models and checkpoints -----------------------------------------------------------------
#
# A checkpoint is staged in ``checkpoints/.staging-step_<N>-<pid>/`` and renamed to
# ``checkpoints/step_<N:09d>/`` only when every file is written, so a process killed at any
# moment leaves either a complete checkpoint or a staging directory that is ignored (and
# removed by the next run that resumes). A resume that finds the latest checkpoint unreadable
# (e.g. truncated by a full disk) renames it to ``.unreadable-step_<N>`` and takes the one before.

STAGING_PREFIX = ".staging-"
UNREADABLE_PREFIX = ".unreadable-"


def save_final_model(run: Run, model: Any) -> None:
    """model.zip and normalization.npz at the top of the run directory, atomically."""
    with atomic_path(run.model_path) as staging:
        model.save(staging)
    vec_normalize = model.get_vec_normalize_env()
    if vec_normalize is not None:
        save_normalization(vec_normalize, run.normalization_path)


def save_checkpoint(
    model: Any,
    checkpoints_dir: Path,
    save_replay_buffer: bool = False,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``checkpoints_dir/step_<N>`` for the model's current timestep; returns its path.

    ``extra``: more fields for checkpoint.json (counts a resumed run continues from).
    """
    step = int(model.num_timesteps)
    final = checkpoints_dir / checkpoint_name(step)
    if final.is_dir():  # same timestep, same state: nothing new to save
        return final
    staging = checkpoints_dir / f"{STAGING_PREFIX}{final.name}-{os.getpid()}"
    # A failed save leaves its staging directory, like a killed one; resuming removes both.
    with staged_directory(final, staging, keep_on_failure=True):
        model.save(staging / MODEL_FILE)
        files = [MODEL_FILE]
        vec_normalize = model.get_vec_normalize_env()
        if vec_normalize is not None:
            save_normalization(vec_normalize, staging / NORMALIZATION_FILE)
            files.append(NORMALIZATION_FILE)
        if save_replay_buffer and getattr(model, "replay_buffer", None) is not None:
            model.save_replay_buffer(staging / REPLAY_BUFFER_FILE)
            files.append(REPLAY_BUFFER_FILE)
        checkpoint_meta = {**(extra or {}), "timesteps": step, "created": now_iso(), "files": files}
        write_json(staging / CHECKPOINT_META_FILE, checkpoint_meta)
    return final


def read_checkpoint(path: Path) -> dict[str, Any]:
    """checkpoint.json of the checkpoint at ``path``, once every file it lists is there."""
    meta = read_json(path / CHECKPOINT_META_FILE)
    files = meta.get("files") if isinstance(meta, dict) else None
    if not isinstance(files, list):
        raise UserError(f"{path / CHECKPOINT_META_FILE}: not a checkpoint record (no 'files')")
    missing = [name for name in files if not (path / str(name)).is_file()]
    if missing:
        raise UserError(f"{path}: missing {', '.join(map(str, missing))}")
    return meta


def set_aside_checkpoint(path: Path) -> Path:
    """Rename an unreadable checkpoint out of the list (kept for inspection); its step can be
    checkpointed again."""
    aside = path.with_name(f"{UNREADABLE_PREFIX}{path.name}")
    shutil.rmtree(aside, ignore_errors=True)
    path.rename(aside)
    return aside


def prune_checkpoints(run: Run, keep: int) -> None:
    """Keep the newest ``keep`` checkpoints."""
    for checkpoint in run.checkpoints()[: max(0, len(run.checkpoints()) - keep)]:
        shutil.rmtree(checkpoint.path, ignore_errors=True)


def remove_staging(run: Run) -> None:
    """Remove staging directories left by a killed process."""
    if run.checkpoints_dir.is_dir():
        for entry in run.checkpoints_dir.iterdir():
            if entry.name.startswith(STAGING_PREFIX):
                shutil.rmtree(entry, ignore_errors=True)
