"""Reports: ``report.md`` + ``report.json`` + PNG figures (+ CSV tables) and the same figures in
TensorBoard, shared by ``evaluate``, ``sweep``, ``compare`` and ``transfer``.

Everything is written atomically (temp file in the same folder, then :func:`os.replace`), so
an interrupted command never leaves a half-written report. Usage::

    paths = write_report(
        out_dir, "Transfer gap",
        sections=[Section("Returns", text="...", tables=[Table(headers, rows)], figures=["gap"])],
        figures={"gap": fig},          # matplotlib figures -> gap.png and TensorBoard tag "gap"
        data={"methods": {...}},       # -> report.json (numpy, dataclasses, Paths, NaN handled)
        csv={"sweep": Table(...)},     # -> sweep.csv
    )
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from sim2real.io import atomic_write_bytes, atomic_write_text, jsonable, write_json
from sim2real.table import format_cell, render_markdown

__all__ = [
    "ReportPaths",
    "Section",
    "Table",
    "atomic_write_bytes",
    "atomic_write_text",
    "format_interval",
    "jsonable",
    "save_figure",
    "write_csv",
    "write_json",
    "write_report",
    "write_tensorboard_figures",
]


@dataclass(frozen=True)
class Table:
    """A plain table: rendered as markdown in report.md, or written as CSV."""

    headers: Sequence[str]
    rows: Sequence[Sequence[Any]]
    title: str = ""


@dataclass(frozen=True)
class Section:
    """One ``##`` section of report.md: free markdown text, tables, then figures (by name)."""

    title: str
    text: str = ""
    tables: Sequence[Table] = ()
    figures: Sequence[str] = ()


@dataclass(frozen=True)
class ReportPaths:
    markdown: Path
    json: Path
    figures: dict[str, Path] = field(default_factory=dict)
    csv: dict[str, Path] = field(default_factory=dict)
    tensorboard: Path | None = None


def write_csv(path: str | Path, table: Table) -> Path:
    """CSV with full float precision (``repr``), NaN as an empty cell."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(table.headers)
    for row in table.rows:
        writer.writerow(["" if _is_nan(v) else v for v in row])
    return atomic_write_text(path, buffer.getvalue())


def save_figure(path: str | Path, figure: Figure, dpi: int = 120) -> Path:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return atomic_write_bytes(path, buffer.getvalue())


def write_tensorboard_figures(
    tb_dir: str | Path, figures: Mapping[str, Figure], global_step: int = 0
) -> Path:
    """Add every figure as an image (tag = its name) to a TensorBoard log in ``tb_dir``."""
    from torch.utils.tensorboard import SummaryWriter  # torch is heavy: import on use

    tb_dir = Path(tb_dir)
    writer = SummaryWriter(log_dir=str(tb_dir))
    try:
        for name, figure in figures.items():
            # close=False: the caller owns the figure (it is also saved as PNG).
            writer.add_figure(name, figure, global_step=global_step, close=False)
    finally:
        writer.close()
    return tb_dir


def render_markdown_report(
    title: str, sections: Sequence[Section], figure_files: Mapping[str, str]
) -> str:
    lines = [f"# {title}", ""]
    for section in sections:
        lines += [f"## {section.title}", ""]
        if section.text:
            lines += [section.text.strip(), ""]
        for table in section.tables:
            if table.title:
                lines += [f"**{table.title}**", ""]
            lines += [render_markdown(table.headers, table.rows), ""]
        for name in section.figures:
            if name not in figure_files:
                raise KeyError(f"section {section.title!r} shows figure {name!r}, not given")
            lines += [f"![{name}]({figure_files[name]})", ""]
    return "\n".join(lines)


def write_report(
    out_dir: str | Path,
    title: str,
    sections: Sequence[Section],
    figures: Mapping[str, Figure] | None = None,
    data: Mapping[str, Any] | None = None,
    csv: Mapping[str, Table] | None = None,
    tensorboard: bool | str | Path = True,
    global_step: int = 0,
) -> ReportPaths:
    """Write report.md, report.json, ``<name>.png`` per figure, ``<name>.csv`` per table.

    Figures also go to TensorBoard: ``tensorboard=True`` logs to ``<out_dir>/tb``, a path
    logs there (e.g. a run's ``tb/`` directory, next to its learning curves), False not at
    all. Each call adds a new event file; nothing existing is deleted. report.json holds
    ``title``, ``data`` and the file names written, so a reader finds the plots from the
    numbers. Returns the paths written. Figures are not closed.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    figures = dict(figures or {})
    tables = dict(csv or {})
    for name in (*figures, *tables):
        _check_name(name)
    figure_paths = {name: save_figure(out / f"{name}.png", fig) for name, fig in figures.items()}
    csv_paths = {name: write_csv(out / f"{name}.csv", table) for name, table in tables.items()}
    tb_dir = None
    if tensorboard is not False and figures:
        target = out / "tb" if tensorboard is True else Path(tensorboard)
        tb_dir = write_tensorboard_figures(target, figures, global_step)
    files = {
        "figures": {name: p.name for name, p in figure_paths.items()},
        "csv": {name: p.name for name, p in csv_paths.items()},
        "tensorboard": _relative(tb_dir, out) if tb_dir else None,
    }
    json_path = write_json(out / "report.json", {"title": title, **(data or {}), "files": files})
    markdown = render_markdown_report(title, sections, files["figures"])
    md_path = atomic_write_text(out / "report.md", markdown)
    return ReportPaths(md_path, json_path, figure_paths, csv_paths, tb_dir)


def format_interval(low: float, high: float) -> str:
    """``[low, high]`` for tables; ``n/a`` when undefined."""
    if _is_nan(low) or _is_nan(high):
        return "n/a"
    return f"[{format_cell(float(low))}, {format_cell(float(high))}]"


def _relative(path: Path, base: Path) -> str:
    try:
        return str(path.resolve().relative_to(base.resolve()))
    except ValueError:
        return str(path.resolve())


def _is_nan(value: Any) -> bool:
    return isinstance(value, (float, np.floating)) and math.isnan(value)


def _check_name(name: str) -> None:
    if not name or not all(c.isalnum() or c in "-_." for c in name) or name.startswith("."):
        raise ValueError(f"file name {name!r} must be letters, digits, '-', '_' or '.'")
