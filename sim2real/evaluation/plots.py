"""Matplotlib figures for reports: bars with CIs, curves with confidence bands, heatmaps.

Figures are built with :class:`matplotlib.figure.Figure` directly (Agg canvas, no pyplot
state), so they work headless and in worker processes. Every function returns the figure;
:func:`sim2real.evaluation.report.write_report` saves it as PNG and to TensorBoard.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from numpy.typing import ArrayLike

__all__ = [
    "Band",
    "Interval",
    "Marker",
    "Span",
    "plot_curves",
    "plot_grouped_bars",
    "plot_heatmap",
]


@dataclass(frozen=True)
class Interval:
    """A point estimate with its confidence interval (NaN ends: no error bar)."""

    value: float
    low: float
    high: float


@dataclass(frozen=True)
class Band:
    """A curve ``center (n,)`` with its confidence band ``low (n,)``, ``high (n,)``."""

    center: ArrayLike
    low: ArrayLike
    high: ArrayLike


@dataclass(frozen=True)
class Span:
    """A range on one axis, e.g. the training DR range of the swept parameter."""

    low: float
    high: float
    label: str


@dataclass(frozen=True)
class Marker:
    """A named position: a vertical line on a curve plot (``y=None``) or a point on a heatmap."""

    label: str
    x: float
    y: float | None = None
    color: str = "tab:red"


_COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown")


def _new_figure(width: float = 7.0, height: float = 4.2) -> tuple[Figure, object]:
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure, figure.add_subplot()


def plot_grouped_bars(
    groups: Sequence[str],
    series: Mapping[str, Sequence[Interval]],
    ylabel: str,
    title: str,
) -> Figure:
    """One group of bars per ``groups`` entry (e.g. targets), one bar per series (e.g. methods).

    ``series[name][i]`` is the bar of ``groups[i]`` with its CI drawn as an error bar.
    """
    figure, ax = _new_figure(max(5.0, 1.2 + 0.9 * len(groups) * max(1, len(series))), 4.2)
    n = max(1, len(series))
    width = 0.8 / n
    positions = np.arange(len(groups), dtype=float)
    for k, (name, intervals) in enumerate(series.items()):
        if len(intervals) != len(groups):
            raise ValueError(f"series {name!r} has {len(intervals)} bars for {len(groups)} groups")
        x = positions + (k - (n - 1) / 2) * width
        values = np.array([i.value for i in intervals], dtype=float)
        lows = np.array([i.low for i in intervals], dtype=float)
        highs = np.array([i.high for i in intervals], dtype=float)
        # Error bars are distances from the bar top; an undefined CI draws none.
        err = np.nan_to_num(np.stack([values - lows, highs - values]), nan=0.0).clip(min=0.0)
        color = _COLORS[k % len(_COLORS)]
        ax.bar(x, np.nan_to_num(values), width, label=name, color=color, alpha=0.85)
        ax.errorbar(x, np.nan_to_num(values), yerr=err, fmt="none", ecolor="black", capsize=3)
    ax.axhline(0.0, color="black", linewidth=0.8)
    ax.set_xticks(positions, list(groups), rotation=20 if len(groups) > 4 else 0)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if len(series) > 1:
        ax.legend(fontsize="small")
    ax.grid(axis="y", alpha=0.3)
    return figure


def plot_curves(
    x: ArrayLike,
    series: Mapping[str, Band],
    xlabel: str,
    ylabel: str,
    title: str,
    spans: Sequence[Span] = (),
    markers: Sequence[Marker] = (),
    log_x: bool = False,
) -> Figure:
    """Lines with shaded confidence bands over a shared ``x (n,)``.

    Used for 1-D sweeps (return vs parameter, the training DR range as a shaded ``Span``,
    targets as vertical ``Marker`` lines) and for learning curves (x = timesteps).
    """
    figure, ax = _new_figure()
    xs = np.asarray(x, dtype=float)
    for span in spans:
        low, high = _finite_span(span, xs)
        ax.axvspan(low, high, color="tab:green", alpha=0.12, label=span.label)
    for k, (name, band) in enumerate(series.items()):
        color = _COLORS[k % len(_COLORS)]
        center = np.asarray(band.center, dtype=float)
        ax.plot(xs, center, marker="o", markersize=3, color=color, label=name)
        ax.fill_between(
            xs, np.asarray(band.low, float), np.asarray(band.high, float), color=color, alpha=0.2
        )
    for k, marker in enumerate(markers):
        style = ("--", ":", "-.")[k % 3]
        ax.axvline(marker.x, color=marker.color, linestyle=style, linewidth=1.2)
        ax.annotate(
            marker.label,
            (marker.x, 1.0),
            xycoords=("data", "axes fraction"),
            rotation=90,
            va="top",
            ha="right",
            fontsize="small",
            color=marker.color,
        )
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if series or spans:
        ax.legend(fontsize="small", loc="best")
    return figure


def plot_heatmap(
    x: ArrayLike,
    y: ArrayLike,
    z: ArrayLike,
    xlabel: str,
    ylabel: str,
    title: str,
    colorbar_label: str,
    x_span: Span | None = None,
    y_span: Span | None = None,
    markers: Sequence[Marker] = (),
) -> Figure:
    """Heatmap of ``z (len(y), len(x))`` over the grid; cells centred on the grid values.

    The training DR range is drawn as dashed lines at the ends of ``x_span``/``y_span`` (a box
    when both are given); targets are labelled points.
    """
    xs, ys, zs = np.asarray(x, float), np.asarray(y, float), np.asarray(z, float)
    if zs.shape != (ys.size, xs.size):
        raise ValueError(f"z has shape {zs.shape}, expected (len(y), len(x)) = {ys.size, xs.size}")
    figure, ax = _new_figure(6.5, 5.0)
    mesh = ax.pcolormesh(_edges(xs), _edges(ys), zs, cmap="viridis", shading="flat")
    figure.colorbar(mesh, ax=ax, label=colorbar_label)
    if xs.size * ys.size <= 144:
        middle = np.nanmean(zs) if np.isfinite(zs).any() else 0.0
        for (i, j), value in np.ndenumerate(zs):
            color = "white" if value < middle else "black"
            ax.text(xs[j], ys[i], f"{value:.3g}", ha="center", va="center", fontsize=7, color=color)
    _draw_spans(ax, x_span, y_span, xs, ys)
    for marker in markers:
        if marker.y is None:
            raise ValueError(f"heatmap marker {marker.label!r} needs a y value")
        ax.plot(marker.x, marker.y, marker="*", markersize=12, color=marker.color, mec="k")
        ax.annotate(
            marker.label,
            (marker.x, marker.y),
            xytext=(5, 5),
            textcoords="offset points",
            color=marker.color,
            fontsize="small",
            bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "alpha": 0.75, "lw": 0},
        )
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if x_span is not None or y_span is not None:
        ax.legend(fontsize="small", loc="best")
    return figure


def plot_matrix(
    rows: Sequence[str],
    columns: Sequence[str],
    values: ArrayLike,
    title: str,
    colorbar_label: str,
) -> Figure:
    """A labelled matrix (``values (len(rows), len(columns))``, NaN = undefined), e.g. methods
    by targets; every cell carries its value."""
    zs = np.asarray(values, float)
    if zs.shape != (len(rows), len(columns)):
        raise ValueError(f"values have shape {zs.shape}, expected {(len(rows), len(columns))}")
    # Room for the row labels (about 0.08 inch a character), or the layout collapses the axes.
    labels_width = 0.08 * max((len(row) for row in rows), default=0)
    figure, ax = _new_figure(1.6 + labels_width + 1.1 * len(columns), 1.4 + 0.5 * len(rows))
    image = ax.imshow(np.ma.masked_invalid(zs), cmap="viridis", aspect="auto")
    figure.colorbar(image, ax=ax, label=colorbar_label)
    middle = np.nanmean(zs) if np.isfinite(zs).any() else 0.0
    for (i, j), value in np.ndenumerate(zs):
        text = "-" if not np.isfinite(value) else f"{value:.3g}"
        color = "white" if np.isfinite(value) and value < middle else "black"
        ax.text(j, i, text, ha="center", va="center", fontsize=8, color=color)
    ax.set_xticks(range(len(columns)), labels=list(columns), rotation=30, ha="right")
    ax.set_yticks(range(len(rows)), labels=list(rows))
    ax.set_title(title)
    return figure


def _draw_spans(
    ax: Any, x_span: Span | None, y_span: Span | None, xs: np.ndarray, ys: np.ndarray
) -> None:
    """A dashed box when both axes have a range, else dashed lines at the one range's ends."""
    style = {"edgecolor": "white", "linestyle": "--", "linewidth": 1.5}
    if x_span is not None and y_span is not None:
        (x0, x1), (y0, y1) = _finite_span(x_span, xs), _finite_span(y_span, ys)
        box = Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, label=x_span.label, **style)
        ax.add_patch(box)
        return
    for span, line, values in ((x_span, ax.axvline, xs), (y_span, ax.axhline, ys)):
        if span is not None:
            for k, end in enumerate(_finite_span(span, values)):
                line(
                    end,
                    color="white",
                    linestyle="--",
                    linewidth=1.5,
                    label=None if k else span.label,
                )


def _edges(centers: np.ndarray) -> np.ndarray:
    """Cell edges around sorted centres (half-way points; a lone centre gets a unit cell)."""
    if centers.size == 1:
        half = 0.5 * max(abs(float(centers[0])), 1.0) * 0.1
        return np.array([centers[0] - half, centers[0] + half])
    mid = (centers[1:] + centers[:-1]) / 2.0
    return np.concatenate([[2 * centers[0] - mid[0]], mid, [2 * centers[-1] - mid[-1]]])


def _finite_span(span: Span, values: np.ndarray) -> tuple[float, float]:
    """Clip an unbounded end (a normal distribution without a range) to the plotted values."""
    low = span.low if math.isfinite(span.low) else float(np.min(values))
    high = span.high if math.isfinite(span.high) else float(np.max(values))
    return low, high
