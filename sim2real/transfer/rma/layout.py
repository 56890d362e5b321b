"""What an adaptation run writes where (on top of :mod:`sim2real.runs`).

::

    <run_dir>/
      config.yaml, run.json   the experiment config (with ``adaptation:``); run.json's "phase"
                              says which phase the run is in ("teacher", then "student")
      teacher/                phase 1: an ordinary run of the teacher (privileged observation,
                              privileged encoder) with its checkpoints, tb/ and summary.json;
                              ``sim2real evaluate RUN/teacher`` evaluates it with privileged
                              observations
      model.zip, normalization.npz   the teacher's final model: the student's frozen body
      adaptation.pt           the final adaptation module (a torch state dict, tensors only;
                              a zoo entry holds it as arrays in adaptation.npz)
      adaptation/checkpoints/step_<N>/  phase 2: module.pt, optimizer.pt, checkpoint.json
      tb/                     phase 2 curves: adaptation/latent_loss (or action_loss),
                              adaptation/latent_loss_fresh (and action_loss_fresh),
                              adaptation/student_return
      summary.json            the student's final evaluation (nominal, DR, every target)
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

from sim2real.errors import UserError, describe

TEACHER_DIR = "teacher"
MODULE_FILE = "adaptation.pt"
MODULE_ARRAYS_FILE = "adaptation.npz"  # the module as plain arrays (a zoo entry)
CHECKPOINT_MODULE_FILE = "module.pt"
OPTIMIZER_FILE = "optimizer.pt"
PHASE2_CHECKPOINTS = Path("adaptation") / "checkpoints"
PHASES = ("teacher", "student")
_CHECKPOINT_NAME = re.compile(r"^step_(\d{9,})$")


def is_student_run(run_dir: Path) -> bool:
    """A run of a config with ``adaptation:`` whose policy is the student (not a teacher run)."""
    return _adaptation_policy(run_dir) == "student"


def is_teacher_run(run_dir: Path) -> bool:
    """Phase 1 of an adaptation run (``RUN/teacher``): its policy reads privileged entries."""
    return _adaptation_policy(run_dir) == "teacher"


def _adaptation_policy(run_dir: Path) -> str | None:
    """Which of the two runs an ``adaptation:`` config writes ``run_dir`` is: "student" or
    "teacher"; None for any other run."""
    from sim2real.resources import read_yaml

    try:
        data = read_yaml(run_dir / "config.yaml")
    except UserError:  # not this question's to report: the run's reader says what is wrong
        return None
    if not isinstance(data, dict) or data.get("adaptation") is None:
        return None
    env = data.get("env")
    kwargs = env.get("kwargs") if isinstance(env, dict) else None
    return "teacher" if isinstance(kwargs, dict) and kwargs.get("privileged") else "student"


def phase2_checkpoints(run_dir: Path) -> list[tuple[int, Path]]:
    """Complete phase-2 checkpoints ``(student steps, path)``, oldest first."""
    folder = run_dir / PHASE2_CHECKPOINTS
    if not folder.is_dir():
        return []
    found = []
    for entry in folder.iterdir():
        match = _CHECKPOINT_NAME.match(entry.name)
        if match and (entry / CHECKPOINT_MODULE_FILE).is_file():
            found.append((int(match.group(1)), entry))
    return sorted(found)


def module_file(run_dir: Path) -> Path | None:
    """The final module (or a zoo entry's arrays), else the latest phase-2 checkpoint's, else
    None."""
    for name in (MODULE_FILE, MODULE_ARRAYS_FILE):
        if (run_dir / name).is_file():
            return run_dir / name
    checkpoints = phase2_checkpoints(run_dir)
    return checkpoints[-1][1] / CHECKPOINT_MODULE_FILE if checkpoints else None


def load_module_weights(path: Path) -> dict[str, Any]:
    """A module's state dict (tensors only: loaded without unpickling code)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise UserError(f"{path}: not a readable adaptation module ({describe(error)})") from None
