"""One report across a study's trials: report.md, report.json, PNGs and TensorBoard.

A *method* is a trial's parameters but its seed; its finished trials are its seeds. For every
method and condition the statistics are those of ``sim2real evaluate``
(:func:`sim2real.evaluation.evaluate.condition_result`: IQM with a stratified bootstrap CI,
the trials as strata, and the transfer gap ``J_nominal - J_target`` with its CI), computed
from the per-episode returns each trial recorded, so nothing is rolled out again. On a target
the returns are those of the trial's final policy there (fine-tuned, when the study
transfers). The best configuration is the method whose pooled returns score best on the
study's metric; trials the scheduler stopped early or that failed are listed, not pooled.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from sim2real.evaluation.conditions import NOMINAL
from sim2real.evaluation.evaluate import Evaluation, EvaluationSettings, condition_result
from sim2real.evaluation.evaluate_report import evaluation_table, gap_figure, returns_figure
from sim2real.evaluation.report import ReportPaths, Section, Table, format_interval, write_report
from sim2real.study.metrics import study_metric
from sim2real.study.spec import Study, trial_label
from sim2real.study.trial import TIME_ATTR
from sim2real.table import format_cell

__all__ = ["StudyReport", "gap_matrix_figure", "write_study_report"]


class StudyReport:
    """The numbers of a study report (see the module docstring)."""

    def __init__(self, study: Study, outcomes: Sequence[Any], study_dir: Path):
        self.study, self.study_dir = study, study_dir
        self.outcomes = list(outcomes)
        self.records = [o.record for o in self.outcomes if o.record is not None]
        self.evaluation = _evaluation(study, self.records) if self.records else None
        self.method_metric = {
            method: study_metric(study.spec.metric, _pooled(records), records[0]["targets"])
            for method, records in _by_method(self.records).items()
        }

    @property
    def best(self) -> str | None:
        if not self.method_metric:
            return None
        pick = max if self.study.mode == "max" else min
        return pick(self.method_metric, key=self.method_metric.__getitem__)

    def best_params(self) -> dict[str, Any]:
        record = next(r for r in self.records if r["method"] == self.best)
        return {key: value for key, value in record["params"].items() if key != "seed"}

    def methods_table(self) -> Table:
        rows = []
        for method, records in _by_method(self.records).items():
            seeds = sorted(record["seed"] for record in records)
            rows.append([method, len(records), seeds, self.method_metric[method]])
        headers = ("method", "trials", "seeds", self.study.spec.metric)
        return Table(headers, rows)

    def gap_matrix(self) -> Table:
        """methods x targets: the transfer gap ``J_nominal - J_target`` with its 95% CI."""
        evaluation = self.evaluation
        targets = evaluation.targets if evaluation else []
        rows = []
        for method, by_condition in (evaluation.results if evaluation else {}).items():
            cells = []
            for target in targets:
                gap = by_condition[target].gap
                cells.append(f"{format_cell(gap.value)} {format_interval(gap.ci_low, gap.ci_high)}")
            rows.append([method, *cells])
        return Table(("method", *targets), rows)

    def transfer_table(self) -> Table:
        """Per method and target: the trained policy's mean return (zero-shot) and the
        fine-tuned one's, over all episodes of the method's trials."""
        rows = []
        for method, records in _by_method(self.records).items():
            for target in records[0]["zero_shot"]:
                before = _pooled_condition(records, "zero_shot", target)
                after = _pooled_condition(records, "returns", target)
                rows.append([method, target, before, after, after - before])
        headers = ("method", "target", "zero-shot mean", "after transfer mean", "change")
        return Table(headers, rows)

    def trials_table(self) -> Table:
        metric = self.study.spec.metric
        rows = []
        for outcome in self.outcomes:
            record = outcome.record
            value = record["metric"] if record else outcome.last.get(metric, "-")
            steps = record[TIME_ATTR] if record else outcome.last.get(TIME_ATTR, "-")
            params = trial_label(outcome.params, exclude=()) if outcome.params else "-"
            where = record["runs"]["train"] if record else outcome.error or "-"
            rows.append([outcome.trial_id, params, outcome.status, steps, value, where])
        return Table(("trial", "parameters", "status", TIME_ATTR, metric, "run / error"), rows)


def _by_method(records: Sequence[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    methods: dict[str, list[Mapping[str, Any]]] = {}
    for record in records:
        methods.setdefault(record["method"], []).append(record)
    return methods


def _pooled(records: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    """condition -> every episode of every trial, for conditions all trials have."""
    conditions = [c for c in records[0]["returns"] if all(c in r["returns"] for r in records)]
    return {
        c: np.concatenate([np.asarray(r["returns"][c], float) for r in records]) for c in conditions
    }


def _pooled_condition(records: Sequence[Mapping[str, Any]], kind: str, condition: str) -> float:
    return float(np.mean(np.concatenate([r[kind][condition] for r in records])))


def _evaluation(study: Study, records: Sequence[Mapping[str, Any]]) -> Evaluation:
    """The trials' returns as an Evaluation with one method per parameter set (no rollouts)."""
    section = study.spec.evaluation
    settings = EvaluationSettings(
        episodes=section.episodes,
        seeds=tuple(section.seeds),
        workers=1,
        bootstrap_seed=section.bootstrap_seed,
        n_boot=section.n_boot,
    )
    conditions = [c for c in records[0]["conditions"] if all(c in r["returns"] for r in records)]
    rng = np.random.default_rng(section.bootstrap_seed)
    evaluation = Evaluation(
        env_id=records[0]["env_id"],
        settings=settings,
        methods={},
        conditions={c: records[0]["conditions"][c] for c in conditions},
        results={},
    )
    for method, trials in _by_method(records).items():
        evaluation.methods[method] = [r["runs"]["train"] for r in trials]
        by_condition = {
            c: {r["runs"]["train"]: np.asarray(r["returns"][c], float) for r in trials}
            for c in conditions
        }
        evaluation.results[method] = {
            c: condition_result(c, by_condition, {}, rng, settings) for c in conditions
        }
        evaluation.dr_is_nominal[method] = bool(trials[0]["dr_is_nominal"])
    return evaluation


def gap_matrix_figure(evaluation: Evaluation) -> Figure | None:
    """Heatmap of the transfer gap, methods x targets; None without targets."""
    targets = evaluation.targets
    if not targets:
        return None
    methods = list(evaluation.results)
    values = np.array(
        [[evaluation.results[m][t].gap.value for t in targets] for m in methods], float
    )
    figure = Figure(figsize=(1.6 + 1.2 * len(targets), 1.4 + 0.45 * len(methods)))
    ax = figure.subplots()
    image = ax.imshow(values, cmap="viridis_r", aspect="auto")
    figure.colorbar(image, ax=ax, label="gap J_nominal - J_target")
    ax.set_xticks(range(len(targets)), targets, rotation=30, ha="right")
    ax.set_yticks(range(len(methods)), methods)
    middle = np.nanmean(values) if np.isfinite(values).any() else 0.0
    for (i, j), value in np.ndenumerate(values):
        color = "black" if value < middle else "white"  # viridis_r: small gaps are light
        ax.text(j, i, f"{value:.3g}", ha="center", va="center", fontsize=7, color=color)
    ax.set_title(f"{evaluation.env_id}: transfer gap per method and target")
    return figure  # saved with a tight bounding box, so long method names fit


def _setup_text(report: StudyReport) -> str:
    study, spec = report.study, report.study.spec
    counts: dict[str, int] = {}
    for outcome in report.outcomes:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    varied = (
        "grid over " + ", ".join(f"`{key}`" for key in spec.grid)
        if spec.grid
        else f"Optuna {spec.search.sampler} search over "
        + ", ".join(f"`{dim.key}`" for dim in study.dimensions)
        if spec.search
        else "the base config only"
    )
    lines = [
        f"Study `{spec.name}` ({study.path}): base config `{study.config_path}`, {varied}; "
        f"metric `{spec.metric}` ({study.mode}imized), scheduler `{spec.scheduler.name}`.",
        f"Trials: {len(report.outcomes)} ("
        + ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
        + ").",
        "",
        "A method is a trial's parameters without its seed; its finished trials are its "
        "seeds (the strata of the bootstrap). On a target the returns are those of the "
        "trial's final policy"
        + (" (fine-tuned there: transfer " + spec.transfer.strategy + ")" if spec.transfer else "")
        + f". Gap = J_{NOMINAL} - J_target; positive gaps are losses.",
        f"TensorBoard over every trial: `tensorboard --logdir {report.study_dir}`",
    ]
    return "\n".join(lines)


def _best_text(report: StudyReport) -> str:
    if report.best is None:
        return "No trial finished, so there is no best configuration yet."
    params = ", ".join(f"`{k}` = {v!r}" for k, v in report.best_params().items()) or "the base"
    value = format_cell(report.method_metric[report.best])
    return (
        f"**{report.best}**: {params}; {report.study.spec.metric} = {value} over "
        f"{len(_by_method(report.records)[report.best])} trial(s)."
    )


def write_study_report(report: StudyReport, out_dir: str | Path) -> ReportPaths:
    """report.md, report.json, returns.png, transfer_gap.png, gap_matrix.png (+ tb/)."""
    figures: dict[str, Figure] = {}
    sections = [
        Section("Setup", _setup_text(report)),
        Section("Best configuration", _best_text(report)),
    ]
    if report.evaluation is not None:
        figures["returns"] = returns_figure(report.evaluation)
        for name, figure in (
            ("transfer_gap", gap_figure(report.evaluation)),
            ("gap_matrix", gap_matrix_figure(report.evaluation)),
        ):
            if figure is not None:
                figures[name] = figure
        sections.append(Section("Methods", tables=[report.methods_table()]))
        sections.append(
            Section(
                "IQM per method and condition",
                tables=[evaluation_table(report.evaluation)],
                figures=[name for name in ("returns", "transfer_gap") if name in figures],
            )
        )
        if report.evaluation.targets:
            sections.append(
                Section(
                    "Gap matrix",
                    "Transfer gap J_nominal - J_target with its 95% CI, methods x targets.",
                    tables=[report.gap_matrix()],
                    figures=["gap_matrix"],
                )
            )
    if report.study.spec.transfer is not None and report.records:
        sections.append(
            Section(
                "Transfer",
                f"Strategy `{report.study.spec.transfer.strategy}`, "
                f"{report.study.spec.transfer.budget:,} target steps per target.",
                tables=[report.transfer_table()],
            )
        )
    sections.append(Section("Trials", tables=[report.trials_table()]))
    data = {
        "kind": "study",
        "study": report.study.name,
        "metric": report.study.spec.metric,
        "mode": report.study.mode,
        "best": {
            "method": report.best,
            "params": report.best_params() if report.best else None,
            "metric": report.method_metric.get(report.best) if report.best else None,
        },
        "methods": report.method_metric,
        "evaluation": report.evaluation,
        "trials": [
            {
                "trial_id": o.trial_id,
                "params": o.params,
                "status": o.status,
                "error": o.error,
                "last": o.last,
                "record": o.record,
            }
            for o in report.outcomes
        ],
    }
    return write_report(
        out_dir, f"Study: {report.study.name}", sections, figures=figures, data=data
    )
