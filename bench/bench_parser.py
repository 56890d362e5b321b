"""The command line every bench script shares: usage and input errors on one line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from sim2real.errors import UserError


class BenchParser(argparse.ArgumentParser):
    """Usage errors as one line with exit code 2, like sim2real's verbs (argparse prints the
    whole usage first)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see --help)\n")


def run_bench(main: Callable[[], int | None]) -> NoReturn:
    """Run a bench script's ``main``: bad input (a ``UserError``) is one line and exit code 2,
    as with sim2real's verbs, not a traceback."""
    try:
        code = main()
    except UserError as error:
        message = " ".join(str(error).split())
        print(f"{Path(sys.argv[0]).name}: error: {message}", file=sys.stderr)
        raise SystemExit(2) from None
    raise SystemExit(code)
