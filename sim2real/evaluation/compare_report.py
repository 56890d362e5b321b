"""The report of ``sim2real compare``: report.md, report.json, learning-curve PNG and CSV,
and the figure in TensorBoard (``<out>/tb``), written with the shared report helpers."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from sim2real.evaluation.bootstrap import Estimate
from sim2real.evaluation.compare import Comparison, curve_band, per_run_metrics
from sim2real.evaluation.plots import Band, plot_curves
from sim2real.evaluation.report import ReportPaths, Section, Table, format_interval, write_report
from sim2real.evaluation.transfer_metrics import TaylorStoneReport
from sim2real.table import format_cell

SCRATCH = "scratch"
NOT_COUNTED = (
    "Timesteps are target-environment samples from the start of target training, for the "
    "transferred and the scratch learner alike; the samples the source policy was trained on "
    "are NOT counted (add them yourself to compare total sample cost)."
)
# (field of TaylorStoneReport, row label, definition)
METRICS = (
    ("jumpstart", "jumpstart", "J_transfer(step 0) - J_scratch(step 0)"),
    ("asymptotic_transfer", "asymptote (transfer)", "mean of the last 10% of the points"),
    ("asymptotic_scratch", "asymptote (scratch)", "same, for the scratch runs"),
    ("asymptotic_gain", "asymptotic gain", "asymptote transfer - asymptote scratch"),
    ("auc_transfer", "total reward (transfer)", "area under the curve, return x target steps"),
    ("auc_scratch", "total reward (scratch)", "same, for the scratch runs"),
    ("transfer_ratio", "transfer ratio", "(AUC_transfer - AUC_scratch) / abs(AUC_scratch)"),
    (
        "time_to_threshold_transfer",
        "time to threshold (transfer)",
        "first evaluation step >= threshold; mean over seeds that reach it",
    ),
    ("time_to_threshold_scratch", "time to threshold (scratch)", "same, for the scratch runs"),
)


def write_comparison_report(comparison: Comparison, out_dir: str | Path) -> ReportPaths:
    """Write the report of ``comparison`` into ``out_dir``; returns the paths written."""
    figure = learning_curve_figure(comparison)
    sections = [
        Section("Setup", text=_setup_text(comparison)),
        Section(
            "Taylor & Stone metrics",
            text=f"Point estimates with {comparison.confidence:.0%} percentile bootstrap CIs "
            f"across seeds ({comparison.n_boot} resamples, RNG seed {comparison.seed}).",
            tables=[metrics_table(comparison)],
        ),
        Section("Runs", tables=[runs_table(comparison)]),
        Section("Learning curves on the target", figures=["learning_curves"]),
    ]
    return write_report(
        out_dir,
        f"Transfer vs scratch on target {comparison.target}",
        sections,
        figures={"learning_curves": figure},
        data=comparison_data(comparison),
        csv={"learning_curves": curves_table(comparison)},
    )


def metrics_table(comparison: Comparison) -> Table:
    headers = ["metric", *[m.method for m in comparison.methods], "definition"]
    rows = []
    for field, label, definition in METRICS:
        cells = [_estimate(getattr(m.metrics, field)) for m in comparison.methods]
        rows.append([label, *cells, definition])
    rows.append(
        [
            "reached threshold",
            *[_reached(m.metrics) for m in comparison.methods],
            "seeds reaching it: transfer / scratch",
        ]
    )
    return Table(headers, rows)


def runs_table(comparison: Comparison) -> Table:
    """One row per run: what each seed did on the shared grid (checkable by hand)."""
    headers = ["run", "method", "strategy", "seed", "initial", "final", "AUC", "time to thr."]
    rows: list[list[Any]] = []
    groups = [(m.method, m.runs, m.curves) for m in comparison.methods]
    groups.append((SCRATCH, comparison.scratch_runs, comparison.scratch_curves))
    for method, runs, curves in groups:
        metrics = per_run_metrics(curves, comparison.timesteps, comparison.threshold)
        for run, values in zip(runs, metrics, strict=True):
            ttt = values["time_to_threshold"]
            rows.append(
                [
                    str(run.path),
                    method,
                    run.strategy,
                    run.seed,
                    values["initial"],
                    values["final"],
                    values["auc"],
                    "not reached" if math.isnan(ttt) else int(ttt),
                ]
            )
    return Table(headers, rows)


def curves_table(comparison: Comparison) -> Table:
    """Long format: one row per method, run, seed and target step."""
    rows: list[list[Any]] = []
    groups = [(m.method, m.runs, m.curves) for m in comparison.methods]
    groups.append((SCRATCH, comparison.scratch_runs, comparison.scratch_curves))
    for method, runs, curves in groups:
        for run, curve in zip(runs, curves, strict=True):
            for step, value in zip(comparison.timesteps, curve, strict=True):
                rows.append([method, str(run.path), run.seed, float(step), float(value)])
    return Table(["method", "run", "seed", "target_steps", "mean_return"], rows)


def learning_curve_figure(comparison: Comparison) -> Figure:
    """Mean return on the target vs target steps, mean ± bootstrap CI band per method."""
    rng = np.random.default_rng(comparison.seed)
    series = {}
    groups = [(m.method, m.curves) for m in comparison.methods]
    groups.append((f"{SCRATCH} (baseline)", comparison.scratch_curves))
    for name, curves in groups:
        mean, low, high = curve_band(curves, rng, comparison.n_boot, comparison.confidence)
        series[f"{name} (n={curves.shape[0]})"] = Band(mean, low, high)
    figure = plot_curves(
        comparison.timesteps,
        series,
        xlabel="target steps (source training not counted)",
        ylabel="mean return on the target",
        title=f"Transfer vs scratch on {comparison.target} "
        f"(mean, {comparison.confidence:.0%} CI across seeds)",
    )
    axes = figure.axes[0]
    axes.axhline(comparison.threshold, color="gray", linestyle=":", label="threshold")
    axes.legend(fontsize="small", loc="best")
    return figure


def comparison_data(comparison: Comparison) -> dict[str, Any]:
    """report.json content (the report helpers add the title and the file names)."""
    timesteps = comparison.timesteps
    methods = {}
    for method in comparison.methods:
        methods[method.method] = {
            "strategy": method.strategy,
            "runs": [str(run.path) for run in method.runs],
            "seeds": [run.seed for run in method.runs],
            "curves": method.curves,
            "metrics": method.metrics.as_dict(),
            "per_run": per_run_metrics(method.curves, timesteps, comparison.threshold),
        }
    source_steps = sorted(
        {run.source_timesteps for m in comparison.methods for run in m.runs}, key=str
    )
    return {
        "target": comparison.target,
        "env_id": comparison.env_id,
        "timesteps": timesteps,
        "threshold": comparison.threshold,
        "threshold_rule": comparison.threshold_rule,
        "source_samples_counted": False,
        "source_training_timesteps": source_steps,
        "note": NOT_COUNTED,
        "bootstrap": {
            "n_boot": comparison.n_boot,
            "confidence": comparison.confidence,
            "seed": comparison.seed,
        },
        "scratch": {
            "runs": [str(run.path) for run in comparison.scratch_runs],
            "seeds": [run.seed for run in comparison.scratch_runs],
            "curves": comparison.scratch_curves,
            "per_run": per_run_metrics(comparison.scratch_curves, timesteps, comparison.threshold),
        },
        "methods": methods,
    }


def _setup_text(comparison: Comparison) -> str:
    methods = ", ".join(
        f"`{m.method}` ({m.strategy}, {len(m.runs)} seed(s))" for m in comparison.methods
    )
    source = sorted({str(r.source_timesteps) for m in comparison.methods for r in m.runs})
    steps = comparison.timesteps
    return "\n".join(
        [
            f"- target: `{comparison.target}` ({comparison.env_id})",
            f"- transfer methods: {methods}",
            f"- scratch baseline: {len(comparison.scratch_runs)} seed(s)",
            f"- evaluation grid: {len(steps)} points from {steps[0]:g} to {steps[-1]:g} "
            "target steps (curves aligned by linear interpolation where runs differ)",
            f"- threshold: {format_cell(comparison.threshold)} = {comparison.threshold_rule}",
            f"- source policies were trained for {', '.join(source)} steps, not counted below",
            "",
            NOT_COUNTED,
        ]
    )


def _estimate(estimate: Estimate) -> str:
    if math.isnan(estimate.value):
        return "n/a"
    return f"{format_cell(estimate.value)} {format_interval(estimate.ci_low, estimate.ci_high)}"


def _reached(metrics: TaylorStoneReport) -> str:
    transfer = round(metrics.reached_fraction_transfer * metrics.n_transfer)
    scratch = round(metrics.reached_fraction_scratch * metrics.n_scratch)
    return f"{transfer}/{metrics.n_transfer} / {scratch}/{metrics.n_scratch}"
