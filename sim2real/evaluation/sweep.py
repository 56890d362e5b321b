"""Robustness sweeps: returns over a 1-D or 2-D grid of fixed dynamics values.

Each grid point is one world: the swept parameters take the point's values (absolute, or
multiples of nominal with ``scale``; see :mod:`sim2real.evaluation.grid`), everything else
stays nominal and nothing is randomized. Per point: mean return and IQM with a 95% bootstrap
CI (runs as strata, episodes resampled within each run, as in ``evaluate``). The report
(:mod:`sim2real.evaluation.sweep_report`) marks the training DR range of each swept parameter
and where the targets sit on the grid.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sim2real.errors import UserError
from sim2real.evaluation.conditions import (
    Condition,
    Probes,
    check_policies,
    open_runs,
    unique_targets,
)
from sim2real.evaluation.evaluate import EvaluationSettings, collect_returns
from sim2real.evaluation.grid import (
    Axis,
    BoundAxis,
    axis_value,
    bind_axes,
    dr_range,
    grid_points,
    point_dynamics,
)
from sim2real.evaluation.metrics import summarize_returns
from sim2real.evaluation.rollouts import RolloutJob
from sim2real.targets import Target, target_dynamics

__all__ = ["Sweep", "run_sweep"]


@dataclass
class Sweep:
    env_id: str
    method: str
    runs: list[str]
    axes: list[dict[str, Any]]  # parameter, selector, elements, scale, values, label, dr_range
    settings: EvaluationSettings
    points: list[dict[str, Any]]  # values, dynamics, summary, returns (run -> episodes)
    markers: list[dict[str, Any]] = field(default_factory=list)  # name, position (per axis)


def run_sweep(
    run_dirs: Sequence[str | Path],
    axes: Sequence[Axis],
    settings: EvaluationSettings | None = None,
    targets: Sequence[Target] | None = None,
    progress: bool = False,
) -> Sweep:
    """Evaluate the runs (seeds of one method) at every grid point of ``axes``."""
    settings = settings or EvaluationSettings(episodes=5)
    runs = open_runs(run_dirs)
    methods = sorted({info.method for info in runs})
    if len(methods) > 1:
        raise UserError(
            "sweep the seeds of one method at a time (one config, trained alike); got "
            f"{'; '.join(methods)}"
        )
    env_id = runs[0].env_id
    targets = list(runs[0].targets) if targets is None else unique_targets(targets)
    probes = Probes(env_id)
    try:
        env = probes.get(runs[0].env_kwargs).unwrapped
        bound = bind_axes(axes, env.layout, env.nominal, env_id, (env.control_dt, env.physics_dt))
        check_policies(runs, probes)
        markers = _markers(probes, runs[0].env_kwargs, bound, targets)
    finally:
        probes.close()
    points = grid_points(axes)
    conditions = [
        Condition(f"point{i}", dynamics=point_dynamics(bound, p)) for i, p in enumerate(points)
    ]
    jobs = [
        RolloutJob(
            str(info.path),
            env_id,
            condition,
            seed,
            settings.episodes,
            dict(info.env_kwargs),
            settings.deterministic,
        )
        for condition in conditions
        for info in runs
        for seed in settings.seeds
    ]
    returns = collect_returns(jobs, settings.workers, progress)
    rng = np.random.default_rng(settings.bootstrap_seed)
    results = []
    for point, condition in zip(points, conditions, strict=True):
        by_run = {str(info.path): returns[(str(info.path), condition.name)] for info in runs}
        summary = summarize_returns(by_run, rng, settings.n_boot, settings.confidence, "iqm")
        results.append(
            {
                "values": list(point),
                "dynamics": condition.dynamics,
                "summary": summary,
                "returns": {run: values.tolist() for run, values in by_run.items()},
            }
        )
    axes_info = [_axis_info(b, runs[0].randomization) for b in bound]
    return Sweep(
        env_id, methods[0], [str(i.path) for i in runs], axes_info, settings, results, markers
    )


def _axis_info(bound: BoundAxis, randomization: Any) -> dict[str, Any]:
    return {
        "parameter": bound.axis.parameter,
        "selector": list(bound.axis.selector),
        "elements": [bound.elements[i] for i in bound.indices],
        "scale": bound.axis.scale,
        "values": list(bound.axis.values),
        "label": bound.axis.label,
        "dr_range": dr_range(bound, randomization),
        "nominal": axis_value(bound, bound.nominal),
    }


def _parameter_array(named: Mapping[str, Any], parameter: str, elements: Sequence[str]) -> Any:
    value = named[parameter]
    if isinstance(value, Mapping):
        return np.array([value[e] for e in elements], dtype=float)
    return np.full(len(elements), float(value))


def _markers(
    probes: Probes, env_kwargs: Mapping[str, Any], bound: Sequence[BoundAxis], targets: Sequence
) -> list[dict[str, Any]]:
    """Nominal and every target that moves a swept parameter, as positions on the axes."""
    env = probes.get(env_kwargs)
    nominal_named = env.unwrapped.get_dynamics()
    markers = [{"name": "nominal", "position": [axis_value(b, b.nominal) for b in bound]}]
    for target in targets:
        if target.env_id != probes.env_id:
            raise UserError(
                f"{target.path}: field 'env_id' = {target.env_id!r}; the run is for "
                f"{probes.env_id!r}"
            )
        named = target_dynamics(env, target)
        position, moved = [], False
        for b in bound:
            values = _parameter_array(named, b.axis.parameter, b.elements)
            before = _parameter_array(nominal_named, b.axis.parameter, b.elements)
            moved |= bool(np.any(values[b.indices] != before[b.indices]))
            position.append(axis_value(b, values))
        if moved:
            markers.append({"name": target.name, "position": position})
    return markers
