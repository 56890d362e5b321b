"""Transfer runs against training from scratch: Taylor & Stone metrics from learning curves.

Every run directory written by :func:`sim2real.transfer.transfer` holds its learning curve on
the target (``evaluations.json``, first point at step 0). :func:`compare_runs` reads the
curves of several seeds of one or more transfer methods and of the ``scratch`` baseline,
puts them on one grid of target steps (:func:`align_curves`; runs evaluated at the same
steps keep their exact values) and computes jumpstart, asymptotic performance, total reward
(area under the curve), transfer ratio and time to threshold, each with a percentile
bootstrap CI across seeds (:func:`taylor_stone`). Transfer runs of the same name (source
config, target, strategy) and the same options are one method. Steps count target samples
only: source training is not counted.

A strategy that trains in simulation (``sysid``) spends its target samples before it learns:
the recorded steps ``N`` (``transfer.target_samples``). On the target-sample axis its curve
is the source policy (its step-0 evaluation) before ``N`` and its final policy from ``N`` on.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from sim2real import limits
from sim2real.errors import UserError
from sim2real.evaluation.bootstrap import bootstrap_each
from sim2real.evaluation.transfer_metrics import (
    TaylorStoneReport,
    align_curves,
    asymptotic_performance,
    taylor_stone,
)
from sim2real.runs import Run
from sim2real.transfer.strategies import FINE_TUNING, SIMULATED

# What a transfer run records of how it learned, beyond its name (source, target, strategy).
TRANSFER_OPTIONS = ("normalization", "lr_scale", "dr_width", "freeze")

THRESHOLD_FRACTION = 0.9


@dataclass(frozen=True)
class LearningCurve:
    """One run's mean return on its target at each evaluation: ``timesteps``, ``returns`` (n,)."""

    path: Path
    method: str  # the transfer's name; :func:`_labelled` tells apart runs with other options
    strategy: str
    target: str
    env_id: str
    seed: int
    source_timesteps: int | None
    timesteps: np.ndarray
    returns: np.ndarray
    # Simulated strategies: the target samples spent up front (timesteps are then simulation
    # steps); None when timesteps count target samples.
    target_samples: int | None = None
    options: dict[str, Any] = field(default_factory=dict)  # see TRANSFER_OPTIONS

    def on_target_samples(self, grid: np.ndarray) -> np.ndarray:
        """A simulated strategy's curve on a target-sample ``grid``: source, then final policy."""
        if self.target_samples is None:
            raise ValueError(f"{self.path}: its timesteps already count target samples")
        return np.where(grid < self.target_samples, self.returns[0], self.returns[-1])


@dataclass(frozen=True)
class MethodResult:
    """One transfer method (its seeds) against the scratch baseline."""

    method: str
    strategy: str
    runs: tuple[LearningCurve, ...]
    curves: np.ndarray  # (n_seeds, n_points) on Comparison.timesteps
    metrics: TaylorStoneReport


@dataclass(frozen=True)
class Comparison:
    target: str
    env_id: str
    timesteps: np.ndarray  # (n_points,) target steps shared by every curve
    scratch_runs: tuple[LearningCurve, ...]
    scratch_curves: np.ndarray  # (n_scratch_seeds, n_points)
    methods: tuple[MethodResult, ...]
    threshold: float
    threshold_rule: str
    confidence: float
    n_boot: int
    seed: int


def read_learning_curve(path: str | Path, role: str) -> LearningCurve:
    """The target learning curve of a transfer (``role="transfer"``) or scratch run.

    Raises :class:`UserError` for a directory that is not a run, a run of the wrong role
    (a fine-tuned run given as scratch or the reverse, a run of ``sim2real train``) or
    one without at least two evaluations on its target.
    """
    run = Run.read(path, model=False)  # the learning curves are what compare reads
    meta = run.meta
    strategy = meta.get("strategy")
    info = meta.get("transfer")
    if strategy is None or not isinstance(info, dict):
        raise UserError(
            f"{run.path}: field 'strategy' = None; not a transfer run (it was trained by "
            "`sim2real train`); make transfer and scratch runs with `sim2real transfer`"
        )
    if role == "scratch" and strategy != "scratch":
        raise UserError(
            f"{run.path}: field 'strategy' = {strategy!r}; a fine-tuned run cannot be the "
            "scratch baseline: give it before --scratch, and a --strategy scratch run after"
        )
    if role == "transfer" and strategy not in FINE_TUNING:
        raise UserError(
            f"{run.path}: field 'strategy' = {strategy!r}; give scratch runs after --scratch "
            f"and fine-tuned runs ({', '.join(FINE_TUNING)}) before it"
        )
    target = info.get("target")
    if not isinstance(target, str):
        raise UserError(f"{run.meta_path}: field 'transfer.target' = {target!r}; must be a name")
    evaluations = run.evaluations()
    curve = evaluations.get("curves", {}).get(target)
    timesteps = evaluations.get("timesteps", [])
    if not run.evaluations_path.is_file() or curve is None or len(curve) < 2:
        points = 0 if curve is None else len(curve)
        raise UserError(
            f"{run.evaluations_path}: {points} evaluation(s) on target {target!r}; a learning "
            "curve needs at least 2 (the run did not get past its first evaluation)"
        )
    target_samples = None
    if strategy in SIMULATED:
        target_samples = info.get("target_samples")
        if not isinstance(target_samples, int) or target_samples < 0:
            raise UserError(
                f"{run.meta_path}: field 'transfer.target_samples' = {target_samples!r}; a "
                f"{strategy} run records the target samples it used (an integer >= 0)"
            )
    return LearningCurve(
        path=run.path,
        method=str(info.get("name", run.path.name)),
        strategy=str(strategy),
        target=str(target),
        env_id=str(meta.get("env_id")),
        seed=int(meta.get("seed", 0)),
        source_timesteps=info.get("source_timesteps"),
        timesteps=np.asarray(timesteps, dtype=float),
        returns=np.asarray(curve, dtype=float),
        target_samples=target_samples,
        options={name: info[name] for name in TRANSFER_OPTIONS if name in info},
    )


def compare_runs(
    transfer_runs: Sequence[str | Path],
    scratch_runs: Sequence[str | Path],
    threshold: float | None = None,
    *,
    seed: int = 0,
    n_boot: int = 2000,
    confidence: float = 0.95,
) -> Comparison:
    """Taylor & Stone metrics of every transfer method against the scratch runs.

    ``threshold`` (a return) defaults to 90% of the scratch runs' mean asymptote.
    ``seed`` seeds the bootstrap (same inputs and seed: same CIs).
    """
    if not transfer_runs or not scratch_runs:
        raise UserError("give at least one transfer run and one scratch run (--scratch RUN ...)")
    limits.check_count(seed, limits.SEED, "--seed", minimum=0)
    limits.check_count(n_boot, limits.N_BOOT, "--n-boot")
    if not 0 < confidence < 1:
        raise UserError(f"confidence = {confidence!r}; must be in (0, 1), e.g. 0.95")
    transfer = _labelled([read_learning_curve(path, "transfer") for path in transfer_runs])
    scratch = [read_learning_curve(path, "scratch") for path in scratch_runs]
    _check_same_target([*transfer, *scratch])
    _check_distinct([*transfer, *scratch])
    everything = [*transfer, *scratch]
    # Curves over target samples set the grid (the scratch runs always have one); simulated
    # strategies are then read on it.
    sampled = [run for run in everything if run.target_samples is None]
    shared = sampled[0].timesteps
    # Runs evaluated at the same steps keep them exactly; others meet on a common grid.
    same = all(np.array_equal(run.timesteps, shared) for run in sampled)
    try:
        grid, on_grid = align_curves(
            [run.timesteps for run in sampled],
            [run.returns for run in sampled],
            grid=shared if same else None,
        )
    except ValueError as error:
        raise UserError(f"the learning curves cannot be put on one grid: {error}") from None
    rows = iter(on_grid)
    aligned = np.stack(
        [
            next(rows) if run.target_samples is None else run.on_target_samples(grid)
            for run in everything
        ]
    )
    scratch_curves = aligned[len(transfer) :]
    threshold, rule = _threshold(threshold, scratch_curves)
    rng = np.random.default_rng(seed)
    methods = []
    for method, indices in _methods(transfer).items():
        curves = aligned[indices]
        metrics = taylor_stone(
            curves, scratch_curves, grid, threshold, rng=rng, n_boot=n_boot, confidence=confidence
        )
        runs = tuple(transfer[i] for i in indices)
        methods.append(MethodResult(method, runs[0].strategy, runs, curves, metrics))
    return Comparison(
        target=transfer[0].target,
        env_id=transfer[0].env_id,
        timesteps=grid,
        scratch_runs=tuple(scratch),
        scratch_curves=scratch_curves,
        methods=tuple(methods),
        threshold=threshold,
        threshold_rule=rule,
        confidence=confidence,
        n_boot=n_boot,
        seed=seed,
    )


def cut_curves(comparison: Comparison) -> list[tuple[LearningCurve, int]]:
    """Runs whose target curve goes on past the compared steps, with their last step: the
    comparison covers only the steps every run has (the shortest run's)."""
    end = comparison.timesteps[-1]
    runs = [*comparison.scratch_runs, *(run for m in comparison.methods for run in m.runs)]
    return [
        (run, int(run.timesteps[-1]))
        for run in runs
        if run.target_samples is None and run.timesteps[-1] > end
    ]


def curve_band(
    curves: np.ndarray, rng: np.random.Generator, n_boot: int = 2000, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean curve ``(n_points,)`` and a percentile bootstrap CI of it (seeds resampled).

    ``curves`` is ``(n_seeds, n_points)``; one seed gives a zero-width band. Returns
    ``(mean, low, high)``, each ``(n_points,)``.
    """
    # Whole curves are the resampled units, so each replicate is a mean curve (n_points,).
    band = bootstrap_each(
        [[curves]], lambda c: c.mean(axis=-2), rng, n_boot, confidence, vectorized=True
    )
    return (
        np.array([point.value for point in band]),
        np.array([point.ci_low for point in band]),
        np.array([point.ci_high for point in band]),
    )


def per_run_metrics(
    curves: np.ndarray, timesteps: np.ndarray, threshold: float
) -> list[dict[str, Any]]:
    """Initial and final return, AUC and time to threshold of each curve (hand-checkable)."""
    rows = []
    for curve in np.asarray(curves, dtype=float):
        reached = np.flatnonzero(curve >= threshold)
        rows.append(
            {
                "initial": float(curve[0]),
                "final": float(curve[-1]),
                "auc": float(np.trapezoid(curve, x=timesteps)),
                "time_to_threshold": float(timesteps[reached[0]]) if reached.size else math.nan,
            }
        )
    return rows


def _threshold(threshold: float | None, scratch_curves: np.ndarray) -> tuple[float, str]:
    if threshold is not None:
        if not math.isfinite(threshold):
            raise UserError(f"option '--threshold' = {threshold}; must be a finite return")
        return float(threshold), "given (--threshold)"
    asymptote = float(asymptotic_performance(scratch_curves).mean())
    if asymptote <= 0.0:
        raise UserError(
            f"the scratch runs' asymptote is {asymptote:.4g} <= 0, so 90% of it is no "
            "meaningful threshold; pass --threshold RETURN"
        )
    rule = f"{THRESHOLD_FRACTION:.0%} of the scratch asymptote ({asymptote:.4g})"
    return THRESHOLD_FRACTION * asymptote, rule


def _check_same_target(runs: Sequence[LearningCurve]) -> None:
    first = runs[0]
    for run in runs[1:]:
        if (run.env_id, run.target) != (first.env_id, first.target):
            raise UserError(
                f"{run.path}: target {run.target!r} of {run.env_id}, but {first.path} has "
                f"target {first.target!r} of {first.env_id}; compare runs on one target"
            )


def _check_distinct(runs: Sequence[LearningCurve]) -> None:
    seen: set[Path] = set()
    for run in runs:
        resolved = run.path.resolve()
        if resolved in seen:
            raise UserError(f"{run.path}: given twice; every run counts once")
        seen.add(resolved)


def _labelled(runs: Sequence[LearningCurve]) -> list[LearningCurve]:
    """Runs of one transfer name are seeds of one method only when they used the same
    :data:`TRANSFER_OPTIONS` (their budgets may differ: curves are cut to the shortest); one
    that did not is a method of its own, labelled with the options that differ."""
    from sim2real.evaluation.conditions import method_label

    firsts: dict[str, dict[str, Any]] = {}
    return [
        replace(
            run,
            method=method_label(
                run.method, run.options, firsts.setdefault(run.method, run.options)
            ),
        )
        for run in runs
    ]


def _methods(runs: Sequence[LearningCurve]) -> dict[str, list[int]]:
    """Run indices per method (see :func:`_labelled`), in the order first given."""
    methods: dict[str, list[int]] = {}
    for index, run in enumerate(runs):
        methods.setdefault(run.method, []).append(index)
    return methods
