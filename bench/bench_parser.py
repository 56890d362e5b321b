"""The command line every bench script shares: usage and input errors on one line."""

from __future__ import annotations

import argparse
import math
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from sim2real import limits
from sim2real.errors import UserError, os_error_line

# Timed benches repeat every case to take the median: more is a typo, not a measurement.
REPEATS = limits.Limit(1000, "every repeat times every case again")


class BenchParser(argparse.ArgumentParser):
    """Usage errors as one line with exit code 2, like sim2real's verbs (argparse prints the
    whole usage first)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see --help)\n")


def count(limit: limits.Limit, minimum: int = 1) -> Callable[[str], int]:
    """An argparse ``type``: a whole number in ``[minimum, limit.maximum]``, so that a bad
    count is a usage error before any work (not a traceback after a training)."""

    def whole_number(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value}: must be >= {minimum}")
        problem = limits.over_limit(value, limit)
        if problem:
            raise argparse.ArgumentTypeError(f"{limits.number(value)}: {problem}")
        return value

    return whole_number


def real(low: float, high: float = math.inf) -> Callable[[str], float]:
    """An argparse ``type``: a finite number in ``[low, high]``."""

    def finite_number(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: not a number") from None
        if not (math.isfinite(value) and low <= value <= high):
            bounds = "" if low == -math.inf else f" >= {low:g}"
            if high != math.inf:
                bounds = f" in [{low:g}, {high:g}]"
            raise argparse.ArgumentTypeError(f"{text}: must be a finite number{bounds}")
        return value

    return finite_number


def output_path(text: str) -> Path:
    """An argparse ``type`` for ``--out``/``--json``: ``Path("")`` would be the working
    directory, so an empty path is refused rather than written into ``.``."""
    if not text.strip():
        raise argparse.ArgumentTypeError("empty; give a path")
    return Path(text)


def check_unique(parser: argparse.ArgumentParser, values: Sequence[object], option: str) -> None:
    """Each of ``values`` at most once (a seed or target given twice would run twice)."""
    repeated = sorted(str(value) for value, times in Counter(values).items() if times > 1)
    if repeated:
        parser.error(f"argument {option}: {', '.join(repeated)} given more than once")


def run_bench(main: Callable[[], int | None]) -> NoReturn:
    """Run a bench script's ``main``: bad input (a ``UserError``, or a path the OS refuses)
    is one line and exit code 2, as with sim2real's verbs, not a traceback."""
    try:
        code = main()
    except UserError as error:
        fail(" ".join(str(error).split()), 2)
    except OSError as error:
        fail(os_error_line(error), 2 if error.filename is not None else 1)
    raise SystemExit(code)


def fail(message: str, code: int) -> NoReturn:
    print(f"{Path(sys.argv[0]).name}: error: {message}", file=sys.stderr)
    raise SystemExit(code) from None
