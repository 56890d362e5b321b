"""Terminal and markdown tables: how cells read."""

from __future__ import annotations

from sim2real.table import format_cell, render_markdown, render_table


def test_cells_read_as_numbers_or_a_dash_when_empty():
    assert [format_cell(v) for v in (None, 1234.5678, 12345.6, 7, "x")] == [
        "-", "1235", "12346", "7", "x"
    ]  # fmt: skip
    table = render_table(["entry", "worst target"], [["zoo:a", None], ["zoo:b", 0.5]])
    assert table.splitlines()[2:] == ["zoo:a             -", "zoo:b           0.5"]
    assert render_markdown(["a"], [[None]]).splitlines()[-1] == "| - |"
