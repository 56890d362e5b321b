"""The report of ``sim2real evaluate``: tables, gap and return bars, report.json."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from sim2real.evaluation.bootstrap import Estimate
from sim2real.evaluation.conditions import DR, NOMINAL
from sim2real.evaluation.evaluate import ConditionResult, Evaluation
from sim2real.evaluation.plots import Interval, plot_grouped_bars, plot_matrix
from sim2real.evaluation.report import (
    ReportPaths,
    Section,
    Table,
    format_interval,
    jsonable,
    write_report,
)
from sim2real.table import format_cell

__all__ = [
    "evaluation_csv",
    "evaluation_table",
    "gap_figure",
    "methods_figure",
    "per_target_tables",
    "returns_figure",
    "write_evaluation_report",
]

RESULT_HEADERS = (
    "method",
    "condition",
    "episodes",
    "mean",
    "IQM",
    "IQM 95% CI",
    "gap",
    "gap 95% CI",
    "gap %",
    "gap vs DR",
    "regret",
    "gap closed",
)


def _number(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return format_cell(float(value))


def _percent(estimate: Estimate | None) -> str:
    if estimate is None or math.isnan(estimate.value):
        return "-"
    return f"{100 * estimate.value:.1f}%"


def _row(method: str, condition: str, result: ConditionResult) -> list[object]:
    summary = result.summary
    gap = result.gap
    return [
        method,
        condition,
        summary.n,
        summary.mean,
        summary.iqm,
        format_interval(summary.ci_low, summary.ci_high),
        _number(gap.value if gap else None),
        format_interval(gap.ci_low, gap.ci_high) if gap else "-",
        _percent(result.gap_normalized),
        _number(result.gap_vs_dr.value if result.gap_vs_dr else None),
        _number(result.regret.value if result.regret else None),
        _number(result.fraction_gap_closed),
    ]


def evaluation_table(evaluation: Evaluation) -> Table:
    """One row per method and condition (nominal, dr, then the targets).

    The regret and gap-closed columns appear only when an oracle was given.
    """
    width = len(RESULT_HEADERS) if evaluation.oracles else len(RESULT_HEADERS) - 2
    rows = []
    for method, by_condition in evaluation.results.items():
        for condition, result in by_condition.items():
            label = condition
            if condition == DR and evaluation.dr_is_nominal.get(method):
                label = "dr (none: = nominal)"
            rows.append(_row(method, label, result)[:width])
    return Table(RESULT_HEADERS[:width], rows)


CSV_HEADERS = (
    "method",
    "condition",
    "episodes",
    "mean",
    "iqm",
    "iqm_ci_low",
    "iqm_ci_high",
    "gap",
    "gap_ci_low",
    "gap_ci_high",
    "gap_normalized",
    "gap_vs_dr",
    "regret",
    "regret_ci_low",
    "regret_ci_high",
    "fraction_gap_closed",
)


def _estimate_cells(estimate: Estimate | None, with_ci: bool = True) -> list[float]:
    if estimate is None:
        return [math.nan] * (3 if with_ci else 1)
    return [estimate.value, estimate.ci_low, estimate.ci_high] if with_ci else [estimate.value]


def evaluation_csv(evaluation: Evaluation) -> Table:
    """The results as numbers (full precision, empty cell = undefined) for results.csv."""
    rows = []
    for method, by_condition in evaluation.results.items():
        for condition, r in by_condition.items():
            s = r.summary
            rows.append(
                [method, condition, s.n, s.mean, s.iqm, s.ci_low, s.ci_high]
                + _estimate_cells(r.gap)
                + _estimate_cells(r.gap_normalized, with_ci=False)
                + _estimate_cells(r.gap_vs_dr, with_ci=False)
                + _estimate_cells(r.regret)
                + [math.nan if r.fraction_gap_closed is None else r.fraction_gap_closed]
            )
    return Table(CSV_HEADERS, rows)


def returns_figure(evaluation: Evaluation) -> Figure:
    """IQM return with its 95% CI per condition, one bar per method."""
    conditions = list(evaluation.conditions)
    series = {
        method: [
            Interval(r.summary.iqm, r.summary.ci_low, r.summary.ci_high)
            for r in (by_condition[c] for c in conditions)
        ]
        for method, by_condition in evaluation.results.items()
    }
    return plot_grouped_bars(
        conditions, series, "IQM return (95% CI)", f"{evaluation.env_id}: return per condition"
    )


def gap_figure(evaluation: Evaluation) -> Figure | None:
    """Transfer gap ``J_nominal - J_target`` with its 95% CI per target; None without targets."""
    targets = evaluation.targets
    if not targets:
        return None
    series = {
        method: [
            Interval(r.gap.value, r.gap.ci_low, r.gap.ci_high)
            for r in (by_condition[t] for t in targets)
        ]
        for method, by_condition in evaluation.results.items()
    }
    return plot_grouped_bars(
        targets, series, "transfer gap J_nominal - J_target", f"{evaluation.env_id}: transfer gap"
    )


def per_target_tables(evaluation: Evaluation) -> list[Table]:
    """One table per target with every method side by side: zero-shot return, the target
    samples the method consumed there, and (with an oracle) the fraction of the gap closed."""
    tables = []
    for target in evaluation.targets:
        rows = []
        for method, by_condition in evaluation.results.items():
            result = by_condition[target]
            summary = result.summary
            samples = evaluation.target_samples.get(method, {}).get(target)
            rows.append(
                [
                    method,
                    summary.iqm,
                    format_interval(summary.ci_low, summary.ci_high),
                    "unknown" if samples is None else f"{samples:,.0f}",
                    _number(result.fraction_gap_closed),
                ]
            )
        headers = ("method", "IQM return", "95% CI", "target samples", "gap closed")
        width = len(headers) if evaluation.oracles else len(headers) - 1
        tables.append(Table(headers[:width], [row[:width] for row in rows], title=target))
    return tables


def methods_figure(evaluation: Evaluation) -> Figure | None:
    """Methods x targets: the fraction of the oracle gap closed where an oracle was given,
    else the IQM return; None with fewer than two methods or no targets."""
    methods, targets = list(evaluation.results), evaluation.targets
    if len(methods) < 2 or not targets:
        return None
    closed = bool(evaluation.oracles)
    values = [
        [
            _value_or_nan(
                evaluation.results[m][t].fraction_gap_closed
                if closed
                else evaluation.results[m][t].summary.iqm
            )
            for t in targets
        ]
        for m in methods
    ]
    label = "fraction of the oracle gap closed" if closed else "IQM return"
    return plot_matrix(methods, targets, values, f"{evaluation.env_id}: methods by target", label)


def _value_or_nan(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _targets_table(evaluation: Evaluation) -> Table:
    rows = []
    for name in evaluation.targets:
        info = evaluation.conditions[name]
        changes = ", ".join(_describe(p, v) for p, v in info["dynamics"].items()) or "(nominal)"
        rows.append([name, info["description"] or "-", changes])
    return Table(("target", "description", "dynamics (changed from nominal)"), rows)


def _describe(parameter: str, value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{parameter}.{k}={format_cell(float(v))}" for k, v in value.items())
    return f"{parameter}={format_cell(float(value))}"


def _oracle_table(evaluation: Evaluation) -> Table:
    rows = []
    for target, oracle in evaluation.oracles.items():
        summary = oracle["summary"]
        interval = format_interval(summary.ci_low, summary.ci_high)
        rows.append([target, oracle["run"], summary.n, summary.mean, summary.iqm, interval])
    return Table(("target", "oracle run", "episodes", "mean", "IQM", "IQM 95% CI"), rows)


def _methods_text(evaluation: Evaluation) -> str:
    settings = evaluation.settings
    lines = [
        f"Env `{evaluation.env_id}`; {settings.episodes} episode(s) for each of seeds "
        f"{list(settings.seeds)} per run and condition; "
        f"{'deterministic' if settings.deterministic else 'stochastic'} actions.",
        "",
    ]
    for method, runs in evaluation.methods.items():
        lines.append(f"- **{method}**: {len(runs)} run(s): " + ", ".join(f"`{r}`" for r in runs))
    lines += [
        "",
        "Mean = mean return over all episodes of all runs. IQM = 25% trimmed mean; its "
        f"{100 * settings.confidence:.0f}% CI is a stratified percentile bootstrap "
        f"({settings.n_boot} replicates, seed {settings.bootstrap_seed}) with the runs as "
        "strata: episodes are resampled within each run.",
        f"Gap = J_{NOMINAL} - J_target (mean returns; J_{NOMINAL} on nominal source dynamics), "
        "gap % = gap / |J_nominal|; gap vs DR = J_dr - J_target, J_dr on the method's training "
        "randomization. Positive gaps are losses.",
    ]
    if evaluation.baseline is not None:
        lines.append(
            "Regret = J_target(oracle) - J_target(method); gap closed = (J_T(method) - "
            f"J_T({evaluation.baseline})) / (J_T(oracle) - J_T({evaluation.baseline})), "
            f"baseline method `{evaluation.baseline}`."
        )
    return "\n".join(lines)


def write_evaluation_report(
    evaluation: Evaluation, out_dir: str | Path, tensorboard: bool | str | Path = True
) -> ReportPaths:
    """report.md, report.json, returns.png and transfer_gap.png (+ TensorBoard) in ``out_dir``."""
    figures = {"returns": returns_figure(evaluation)}
    gap = gap_figure(evaluation)
    if gap is not None:
        figures["transfer_gap"] = gap
    sections = [
        Section("Setup", _methods_text(evaluation)),
        Section("Results", tables=[evaluation_table(evaluation)], figures=list(figures)),
    ]
    matrix = methods_figure(evaluation)
    if matrix is not None:
        figures["methods_by_target"] = matrix
        sections.append(
            Section(
                "Methods per target",
                "Zero-shot return of each method on each target, the target-environment "
                "samples it consumed there (0 for methods trained in simulation only; the "
                "fine-tuning budget, or the recorded steps of the sysid strategy, on the target "
                "a transfer run was made for), and the fraction of the oracle gap closed.",
                tables=per_target_tables(evaluation),
                figures=["methods_by_target"],
            )
        )
    if evaluation.targets:
        sections.insert(1, Section("Targets", tables=[_targets_table(evaluation)]))
    else:
        sections.insert(
            1,
            Section(
                "Targets",
                "No targets: the runs' configs name none; "
                "pass --targets FILE ... to measure a transfer gap.",
            ),
        )
    if evaluation.oracles:
        sections.append(Section("Oracles", tables=[_oracle_table(evaluation)]))
    data = {"kind": "evaluate", **jsonable(evaluation), "targets": evaluation.targets}
    return write_report(
        out_dir,
        f"Transfer evaluation: {evaluation.env_id}",
        sections,
        figures=figures,
        data=data,
        csv={"results": evaluation_csv(evaluation)},
        tensorboard=tensorboard,
    )
