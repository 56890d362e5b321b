"""The report of ``sim2real sweep``: report.md, report.json, sweep.csv and sweep.png (+ the
figure in TensorBoard), written with the shared report helpers. 1-D sweeps plot the IQM with
its CI band, 2-D sweeps an IQM heatmap; both mark the training DR range and the targets."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from sim2real.evaluation.metrics import ReturnSummary
from sim2real.evaluation.plots import Band, Marker, Span, plot_curves, plot_heatmap
from sim2real.evaluation.report import (
    ReportPaths,
    Section,
    Table,
    format_interval,
    jsonable,
    write_report,
)
from sim2real.evaluation.sweep import Sweep

__all__ = ["sweep_figure", "sweep_table", "write_sweep_report"]


def _summary(point: Mapping[str, Any]) -> ReturnSummary:
    return point["summary"]


def sweep_table(sweep: Sweep, numeric: bool = False) -> Table:
    """One row per grid point; ``numeric`` gives separate CI columns (for sweep.csv)."""
    names = [
        axis["parameter"] + (":" + ",".join(axis["selector"]) if axis["selector"] else "")
        for axis in sweep.axes
    ]
    if numeric:
        headers = [*names, "episodes", "mean", "iqm", "iqm_ci_low", "iqm_ci_high"]
    else:
        headers = [*names, "episodes", "mean", "IQM", "IQM 95% CI"]
    rows = []
    for point in sweep.points:
        s = _summary(point)
        ci = [s.ci_low, s.ci_high] if numeric else [format_interval(s.ci_low, s.ci_high)]
        rows.append([*point["values"], s.n, s.mean, s.iqm, *ci])
    return Table(headers, rows)


def sweep_figure(sweep: Sweep) -> Figure:
    """1-D: IQM curve with its CI band; 2-D: IQM heatmap. DR range and targets marked."""
    axes = sweep.axes
    targets = sweep.markers
    spans = [
        Span(a["dr_range"][0], a["dr_range"][1], "training DR range") if a["dr_range"] else None
        for a in axes
    ]
    title = f"{sweep.env_id}: {sweep.method} ({len(sweep.runs)} run(s))"
    iqm = np.array([_summary(p).iqm for p in sweep.points])
    if len(axes) == 1:
        band = Band(
            iqm,
            [_summary(p).ci_low for p in sweep.points],
            [_summary(p).ci_high for p in sweep.points],
        )
        return plot_curves(
            axes[0]["values"],
            {"IQM return (95% CI)": band},
            axes[0]["label"],
            "return",
            title,
            spans=[s for s in spans if s is not None],
            markers=[Marker(m["name"], m["position"][0], color=_color(m)) for m in targets],
        )
    nx, ny = len(axes[0]["values"]), len(axes[1]["values"])
    return plot_heatmap(
        axes[0]["values"],
        axes[1]["values"],
        iqm.reshape(nx, ny).T,  # points run first axis outermost; the heatmap wants (y, x)
        axes[0]["label"],
        axes[1]["label"],
        title,
        "IQM return",
        x_span=spans[0],
        y_span=spans[1],
        markers=[Marker(m["name"], *m["position"], color=_color(m)) for m in targets],
    )


def _color(marker: Mapping[str, Any]) -> str:
    return "dimgray" if marker["name"] == "nominal" else "tab:red"


def _setup_text(sweep: Sweep) -> str:
    settings = sweep.settings
    lines = [
        f"Env `{sweep.env_id}`, method `{sweep.method}`: "
        + ", ".join(f"`{r}`" for r in sweep.runs),
        f"{settings.episodes} episode(s) for each of seeds {list(settings.seeds)} per run and "
        f"grid point; {'deterministic' if settings.deterministic else 'stochastic'} actions.",
        "",
    ]
    for axis in sweep.axes:
        kind = "multiples of each element's nominal value" if axis["scale"] else "absolute values"
        dr = axis["dr_range"]
        dr_text = f"[{dr[0]:.4g}, {dr[1]:.4g}]" if dr else "not randomized in training"
        lines.append(
            f"- `{axis['label']}` on {', '.join(axis['elements'])}: {kind}; nominal "
            f"{axis['nominal']:.4g}; training DR range {dr_text}"
        )
    lines += [
        "",
        "All other parameters stay nominal; nothing is randomized. IQM CI: percentile "
        f"bootstrap ({settings.n_boot} replicates, seed {settings.bootstrap_seed}), episodes "
        "resampled within each run.",
    ]
    return "\n".join(lines)


def write_sweep_report(
    sweep: Sweep, out_dir: str | Path, tensorboard: bool | str | Path = True
) -> ReportPaths:
    """report.md, report.json, sweep.csv and sweep.png (+ TensorBoard) in ``out_dir``."""
    figures = {"sweep": sweep_figure(sweep)}
    markers = Table(
        ("marker", *[a["label"] for a in sweep.axes]),
        [[m["name"], *m["position"]] for m in sweep.markers],
    )
    sections = [
        Section("Setup", _setup_text(sweep)),
        Section("Results", tables=[sweep_table(sweep)], figures=["sweep"]),
        Section("Markers", "Where nominal dynamics and the targets sit on the axes.", [markers]),
    ]
    title = "Robustness sweep: " + " x ".join(a["label"] for a in sweep.axes)
    return write_report(
        out_dir,
        title,
        sections,
        figures=figures,
        data={"kind": "sweep", **jsonable(sweep)},
        csv={"sweep": sweep_table(sweep, numeric=True)},
        tensorboard=tensorboard,
    )
