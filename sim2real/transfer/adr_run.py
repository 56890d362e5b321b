"""ADR in a run: its state for a config's env, ``adr.json`` in the run directory, export-spec.

``adr.json`` holds the ADR parameters (nominal draw, hard limits, step), the current bounds and
return buffers, the entropy, and the history of every bound that moved::

    {"timesteps": 40960, "entropy": -3.2, "width_fraction": 0.41,
     "parameters": [...], "bounds": {"link_mass:pole": [0.75, 1.5], ...}, "buffers": {...},
     "history": [{"timesteps": 8192, "parameter": "link_mass:pole", "side": "high",
                  "move": "out", "mean_return": 487.1, "before": 1.0, "after": 1.125}, ...]}

It is rewritten atomically when training starts, after a bound moved (at the end of that
rollout), at every checkpoint and at the end; each checkpoint's checkpoint.json carries the same
state under ``"adr"``, which ``--resume`` restores.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import yaml

from sim2real.config import ExperimentConfig
from sim2real.errors import UserError
from sim2real.io import atomic_write_text, check_output_file, read_json, write_json
from sim2real.randomization.binding import step_quantum
from sim2real.randomization.catalogue import get_parameter
from sim2real.randomization.spec import parse_spec, spec_to_data
from sim2real.runs import Run
from sim2real.transfer.adr import AutomaticDR, initial_bounds, make_parameters, parameter_names
from sim2real.transfer.rma.layout import TEACHER_DIR

ADR_FILE = "adr.json"
STATE_KEY = "adr"  # the ADR state's field in checkpoint.json


def make_adr(config: ExperimentConfig) -> AutomaticDR:
    """ADR over the config's spec, at its initial bounds; one env is made to read the nominal
    values of ``abs`` terms and the step latencies are realized in."""
    settings = config.adr
    if settings is None:
        raise ValueError(f"config {config.name!r} has no adr section")
    spec = config.randomization
    env = gym.make(config.env.id, randomization=spec, **config.env.kwargs)
    try:
        base = env.unwrapped
        bound_terms = {bound.index: bound for bound in base.randomization.terms}
        centers, quanta = {}, {}
        for index in parameter_names(spec):
            term = spec.terms[index]
            if term.operation == "abs":
                nominal = base.nominal[term.parameter][bound_terms[index].indices]
                centers[index] = float(nominal.mean())
                quantum = step_quantum(
                    get_parameter(term.parameter), base.control_dt, base.physics_dt
                )
                if quantum is not None:
                    quanta[index] = quantum[0]
            else:
                centers[index] = 1.0 if term.operation == "scale" else 0.0
    finally:
        env.close()
    parameters = make_parameters(spec, centers, settings.step_fraction, settings.steps, quanta)
    bounds = initial_bounds(parameters, settings.initial_fraction, quanta, settings.initial)
    return AutomaticDR(spec, parameters, settings, bounds)


def adr_record(adr: AutomaticDR, timesteps: int, history: list[dict[str, Any]]) -> dict[str, Any]:
    """What adr.json and checkpoint.json hold."""
    return {
        "timesteps": int(timesteps),
        "entropy": adr.entropy(),
        "width_fraction": adr.width_fraction(),
        **adr.state_dict(),
        "history": history,
    }


def write_adr_file(run: Run, record: dict[str, Any]) -> Path:
    return write_json(run.path / ADR_FILE, record)


def restore_adr(
    config: ExperimentConfig, record: Any, where: str
) -> tuple[AutomaticDR, list[dict[str, Any]]]:
    """ADR and its history from an :func:`adr_record` (a checkpoint's or adr.json)."""
    if not isinstance(record, dict):
        raise UserError(f"{where}: no ADR state (field '{STATE_KEY}'); the file is damaged")
    assert config.adr is not None
    adr = AutomaticDR.from_state(config.randomization, config.adr, record, where)
    history = record.get("history", [])
    if not isinstance(history, list):
        raise UserError(f"{where}: field 'history' must be a list; the file is damaged")
    return adr, history


def read_adr_run(run_dir: str | Path) -> tuple[Run, AutomaticDR, dict[str, Any]]:
    """An ADR run's final (or latest) ADR state from its adr.json."""
    run = Run.open(run_dir)
    config = run.config
    if config.adr is None:
        raise UserError(
            f"{run.path}: not an ADR run (its {run.config_path.name} has no 'adr' section); "
            "export-spec writes the ranges ADR reached"
        )
    # An RMA run's ADR widens the teacher's ranges: its adr.json is the teacher phase's.
    path = (run.path / TEACHER_DIR if config.adaptation is not None else run.path) / ADR_FILE
    if not path.is_file():
        raise UserError(f"{path}: missing; the run has not started training (see run.json)")
    record = read_json(path)
    adr, _ = restore_adr(config, record, str(path))
    return run, adr, record


def export_spec(run_dir: str | Path, out: str | Path, *, overwrite: bool = False) -> Path:
    """Write the run's ADR bounds as an ordinary randomization spec YAML, atomically; an
    existing ``out`` (perhaps a hand-written spec) only with ``overwrite``."""
    out = check_output_file(out, "--out", "spec.yaml", overwrite=overwrite)
    run, adr, record = read_adr_run(run_dir)
    terms = spec_to_data(adr.episode_spec())
    description = (
        f"Ranges reached by automatic domain randomization in {run.path} after "
        f"{record.get('timesteps', 0):,} timesteps (hard limits: {adr.spec.source})."
    )
    data = {"description": description, "terms": terms}
    parse_spec(data, source=str(out))  # what we write must read back
    atomic_write_text(out, yaml.safe_dump(data, sort_keys=False))
    return out
