"""The command line every bench script shares: usage and input errors on one line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from sim2real.errors import UserError, os_error_line


class BenchParser(argparse.ArgumentParser):
    """Usage errors as one line with exit code 2, like sim2real's verbs (argparse prints the
    whole usage first)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see --help)\n")


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
