"""The bench scripts' shared command line: bad counts, numbers and paths are one usage line
with exit code 2, before any work."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from bench_parser import BenchParser, check_unique, count, output_path, real  # noqa: E402

from sim2real import limits  # noqa: E402

LIMIT = limits.Limit(100, "a test limit")


def parser() -> BenchParser:
    bench = BenchParser(prog="bench.py")
    bench.add_argument("--episodes", type=count(LIMIT), default=10)
    bench.add_argument("--seeds", type=count(limits.SEED, 0), nargs="+", default=[0])
    bench.add_argument("--fraction", type=real(0.0, 1.0), default=0.1)
    bench.add_argument("--gap", type=real(-math.inf), default=0.0)
    bench.add_argument("--out", type=output_path, default=Path("out"))
    return bench


def usage_error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as exit_:
        parser().parse_args(list(argv))
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("bench.py: error: argument ")
    return err


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--episodes", "0"], "--episodes: 0: must be >= 1"),
        (["--episodes", "101"], "--episodes: 101: must be <= 100 (a test limit)"),
        (["--episodes", "2.5"], "--episodes: '2.5': not a whole number"),
        (["--seeds", "0", "-1"], "--seeds: -1: must be >= 0"),
        (["--fraction", "nan"], "--fraction: nan: must be a finite number in [0, 1]"),
        (["--fraction", "1.5"], "--fraction: 1.5: must be a finite number in [0, 1]"),
        (["--fraction", "x"], "--fraction: 'x': not a number"),
        (["--gap", "inf"], "--gap: inf: must be a finite number ("),
        (["--out", ""], "--out: empty; give a path"),
        (["--out", "  "], "--out: empty; give a path"),
    ],
)
def test_bad_values_are_one_usage_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], says: str
) -> None:
    assert says in usage_error(capsys, *argv)


def test_good_values_parse_to_their_types() -> None:
    args = parser().parse_args(
        ["--episodes", "100", "--seeds", "0", "7", "--fraction", "0", "--gap", "-3", "--out", "x"]
    )
    assert (args.episodes, args.seeds, args.fraction, args.gap) == (100, [0, 7], 0.0, -3.0)
    assert args.out == Path("x")


@given(st.lists(st.integers(0, 5), max_size=6))
def test_check_unique_refuses_exactly_the_repeated_values(values: list[int]) -> None:
    repeated = sorted({str(v) for v in values if values.count(v) > 1})
    if not repeated:
        check_unique(parser(), values, "--seeds")
        return
    with pytest.raises(SystemExit) as exit_:
        check_unique(parser(), values, "--seeds")
    assert exit_.value.code == 2
