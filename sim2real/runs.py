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

Every file is written atomically and every checkpoint directory is staged under a temporary
name and renamed (:mod:`sim2real.io`), so a killed process never leaves half a file.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sim2real.errors import UserError
from sim2real.io import atomic_path, atomic_write_text, staged_directory, write_json
from sim2real.policies.normalization import save_normalization

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
STATUSES = ("running", "finished", "interrupted")
_CHECKPOINT_NAME = re.compile(r"^step_(\d{9,})$")


def checkpoint_name(timesteps: int) -> str:
    return f"step_{timesteps:09d}"


def default_run_dir(config_name: str, seed: int) -> Path:
    """``runs/<config name>-seed<seed>`` relative to the working directory."""
    return Path("runs") / f"{config_name}-seed{seed}"


def now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise UserError(f"{path}: cannot read JSON ({error})") from error


# -- the run directory ----------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    path: Path
    timesteps: int


@dataclass(frozen=True)
class Run:
    """A run directory on disk. ``meta`` and ``config`` are read from it on every access."""

    path: Path

    @classmethod
    def open(cls, path: str | Path) -> Run:
        path = Path(path)
        if not (path / META_FILE).is_file() or not (path / CONFIG_FILE).is_file():
            raise UserError(
                f"{path}: not a run directory (needs {META_FILE} and {CONFIG_FILE}); "
                "give a directory written by `sim2real train`"
            )
        return cls(path)

    @property
    def meta(self) -> dict[str, Any]:
        return read_json(self.path / META_FILE)

    @property
    def config(self) -> Any:
        from sim2real.config import load_config

        return load_config(self.config_path)

    @property
    def config_path(self) -> Path:
        return self.path / CONFIG_FILE

    @property
    def model_path(self) -> Path:
        return self.path / MODEL_FILE

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
        return read_json(self.evaluations_path)

    def summary(self) -> dict[str, Any]:
        if not self.summary_path.is_file():
            raise UserError(f"{self.path}: no {SUMMARY_FILE}; the run has not finished")
        return read_json(self.summary_path)

    def load_model(self, env: Any = None, device: str = "cpu", path: str | Path | None = None):
        """The final model (or the SB3 zip at ``path``, e.g. a checkpoint's) with its class."""
        from sim2real.hyperparams import ALGORITHMS, algorithm_class

        algorithm = self.meta.get("algorithm")
        if algorithm not in ALGORITHMS:
            raise UserError(
                f"{self.path / META_FILE}: field 'algorithm' = {algorithm!r}; "
                f"valid: {', '.join(ALGORITHMS)}"
            )
        model_path = Path(path) if path is not None else self.model_path
        if not model_path.is_file():
            raise UserError(f"{model_path}: no model; the run has not finished (see run.json)")
        return algorithm_class(algorithm).load(model_path, env=env, device=device)


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
    """Refuse an existing, non-empty directory unless ``overwrite`` and it is a run directory."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"{path}: run directory path exists and is not a directory")
    if not path.is_dir() or not any(path.iterdir()):
        return
    if not overwrite:
        raise UserError(
            f"{path}: run directory already exists; pass --overwrite to replace it, "
            "--resume to continue it, or choose another --run-dir"
        )
    if not (path / META_FILE).is_file():
        raise UserError(
            f"{path}: not a run directory (no {META_FILE}); refusing to delete it with --overwrite"
        )


def create_run(
    path: str | Path,
    config: Any,
    *,
    overwrite: bool = False,
    device: str = "cpu",
    source_run: str | None = None,
    strategy: str | None = None,
) -> Run:
    """Create ``path`` with config.yaml and run.json (status ``running``)."""
    from sim2real.config import config_to_dict

    path = Path(path)
    check_run_dir_free(path, overwrite)
    if path.is_dir() and any(path.iterdir()):
        shutil.rmtree(path)  # an existing run directory, and the caller asked to overwrite
    config_text = yaml.safe_dump(config_to_dict(config), sort_keys=False)
    path.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path / CONFIG_FILE, config_text)
    meta = {
        "env_id": config.env.id,
        "algorithm": config.algorithm.name,
        "seed": config.seed,
        "status": "running",
        "timesteps": 0,
        "total_timesteps": config.total_timesteps,
        "device": device,
        "created": now_iso(),
        "source_run": source_run,
        "strategy": strategy,
    }
    write_json(path / META_FILE, meta)
    return Run(path)


def remove_run_dir(run: Run) -> None:
    """Delete a run directory that setup created but never trained in."""
    shutil.rmtree(run.path, ignore_errors=True)


# -- models and checkpoints -----------------------------------------------------------------
#
# A checkpoint is staged in ``checkpoints/.staging-step_<N>-<pid>/`` and renamed to
# ``checkpoints/step_<N:09d>/`` only when every file is written, so a process killed at any
# moment leaves either a complete checkpoint or a staging directory that is ignored (and
# removed by the next run that resumes).

STAGING_PREFIX = ".staging-"


def save_final_model(run: Run, model: Any) -> None:
    """model.zip and normalization.npz at the top of the run directory, atomically."""
    with atomic_path(run.model_path) as staging:
        model.save(staging)
    vec_normalize = model.get_vec_normalize_env()
    if vec_normalize is not None:
        save_normalization(vec_normalize, run.normalization_path)


def save_checkpoint(model: Any, checkpoints_dir: Path, save_replay_buffer: bool = False) -> Path:
    """Write ``checkpoints_dir/step_<N>`` for the model's current timestep; returns its path."""
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
        checkpoint_meta = {"timesteps": step, "created": now_iso(), "files": files}
        write_json(staging / CHECKPOINT_META_FILE, checkpoint_meta)
    return final


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
