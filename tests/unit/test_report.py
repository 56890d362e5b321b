"""Reports and plots: files written, strict JSON, markdown, CSV, figure contents."""

import json
import math

import numpy as np
import pytest

from sim2real.evaluation.metrics import ReturnSummary
from sim2real.evaluation.plots import (
    Band,
    Interval,
    Marker,
    Span,
    plot_curves,
    plot_grouped_bars,
    plot_heatmap,
    plot_matrix,
)
from sim2real.evaluation.report import (
    Section,
    Table,
    atomic_write_text,
    format_interval,
    jsonable,
    write_report,
)


def test_jsonable_handles_numpy_dataclasses_and_nan(tmp_path):
    summary = ReturnSummary(1.0, np.float64(2.0), math.nan, 3.0, np.int64(4))
    data = jsonable({"s": summary, "a": np.arange(3), "p": tmp_path, "t": (1, np.inf)})
    assert data == {
        "s": {
            "mean": 1.0,
            "iqm": 2.0,
            "ci_low": None,
            "ci_high": 3.0,
            "n": 4,
            "ci_statistic": "iqm",
        },
        "a": [0, 1, 2],
        "p": str(tmp_path),
        "t": [1, None],
    }
    json.dumps(data, allow_nan=False)  # strict JSON


def test_jsonable_rejects_unknown_objects():
    with pytest.raises(TypeError, match="cannot write object"):
        jsonable(object())


def test_atomic_write_leaves_no_temp_files(tmp_path):
    atomic_write_text(tmp_path / "a.txt", "one")
    atomic_write_text(tmp_path / "a.txt", "two")
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]
    assert (tmp_path / "a.txt").read_text() == "two"


def test_write_report_files_markdown_json_csv(tmp_path):
    figure = plot_grouped_bars(["heavy"], {"dr": [Interval(5.0, 1.0, 9.0)]}, "gap", "t")
    table = Table(("method", "mean", "low"), [["dr", 1.5, math.nan], ["plain", 2.25, 0.5]])
    paths = write_report(
        tmp_path / "out",
        "My report",
        [Section("Results", "Some *text*.", [table], ["gap"])],
        figures={"gap": figure},
        data={"value": np.float32(0.5), "undefined": math.nan},
        csv={"results": table},
        tensorboard=False,
    )
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == [
        "gap.png",
        "report.json",
        "report.md",
        "results.csv",
    ]
    assert (out / "gap.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = json.loads(paths.json.read_text())
    assert report == {
        "title": "My report",
        "value": 0.5,
        "undefined": None,
        "files": {
            "figures": {"gap": "gap.png"},
            "csv": {"results": "results.csv"},
            "tensorboard": None,
        },
    }
    markdown = paths.markdown.read_text()
    assert markdown.startswith("# My report\n")
    assert "## Results" in markdown and "Some *text*." in markdown
    assert "| dr | 1.5 | nan |" in markdown
    assert "![gap](gap.png)" in markdown
    assert (out / "results.csv").read_text() == "method,mean,low\ndr,1.5,\nplain,2.25,0.5\n"
    assert paths.tensorboard is None


def test_write_report_refuses_unknown_figure_and_bad_names(tmp_path):
    with pytest.raises(KeyError, match="figure 'missing'"):
        write_report(tmp_path, "t", [Section("s", figures=["missing"])], tensorboard=False)
    with pytest.raises(ValueError, match="file name"):
        write_report(tmp_path, "t", [], csv={"../x": Table(("a",), [])}, tensorboard=False)


def test_format_interval():
    assert format_interval(1.0, 2.5) == "[1, 2.5]"
    assert format_interval(math.nan, 2.5) == "n/a"


def test_grouped_bars_draw_values_and_error_bars():
    figure = plot_grouped_bars(
        ["heavy", "laggy"],
        {
            "dr": [Interval(5, 1, 9), Interval(2, 1, 3)],
            "nominal": [Interval(8, 6, 10), Interval(-1, math.nan, math.nan)],
        },
        "gap",
        "title",
    )
    ax = figure.axes[0]
    heights = [patch.get_height() for patch in ax.patches]
    assert heights == [5, 2, 8, -1]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["heavy", "laggy"]
    with pytest.raises(ValueError, match="1 bars for 2 groups"):
        plot_grouped_bars(["a", "b"], {"x": [Interval(1, 0, 2)]}, "y", "t")


def test_curves_band_span_and_markers():
    figure = plot_curves(
        [0.5, 1.0, 2.0],
        {"IQM": Band([10, 20, 15], [5, 15, 10], [12, 25, 20])},
        "mass",
        "return",
        "sweep",
        spans=[Span(0.8, 1.5, "training DR range")],
        markers=[Marker("heavy", 2.0), Marker("nominal", 1.0, color="dimgray")],
    )
    ax = figure.axes[0]
    (line,) = [ln for ln in ax.get_lines() if ln.get_label() == "IQM"]
    assert list(line.get_ydata()) == [10, 20, 15]
    assert "training DR range" in [t.get_text() for t in ax.get_legend().get_texts()]
    assert {t.get_text() for t in ax.texts} == {"heavy", "nominal"}


def test_heatmap_shape_and_box():
    z = np.arange(6.0).reshape(2, 3)
    figure = plot_heatmap(
        [1, 2, 3],
        [10, 20],
        z,
        "x",
        "y",
        "t",
        "return",
        x_span=Span(1.5, 2.5, "DR"),
        y_span=Span(10, 15, "DR"),
        markers=[Marker("heavy", 3, 20)],
    )
    ax = figure.axes[0]
    assert np.array_equal(ax.collections[0].get_array().reshape(2, 3), z)
    (box,) = [p for p in ax.patches if p.get_label() == "DR"]
    assert (box.get_x(), box.get_y(), box.get_width(), box.get_height()) == (1.5, 10, 1.0, 5)
    with pytest.raises(ValueError, match="expected"):
        plot_heatmap([1, 2], [1], z, "x", "y", "t", "r")


def test_a_matrix_with_long_row_labels_keeps_its_layout(tmp_path):
    import warnings

    rows = ["hopper_dr_ppo", "hopper_dr_ppo [env.history_steps=10]", "hopper_dr_ppo-to-hard-sysid"]
    figure = plot_matrix(rows, ["hard"], [[0.0], [0.5], [np.nan]], "methods", "gap closed")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "constrained_layout not applied" when it collapses
        figure.savefig(tmp_path / "matrix.png")
    texts = [text.get_text() for text in figure.axes[0].texts]
    assert texts == ["0", "0.5", "-"]
