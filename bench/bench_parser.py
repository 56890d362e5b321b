"""The command line every bench script shares: usage errors on one line."""

from __future__ import annotations

import argparse
from typing import NoReturn


class BenchParser(argparse.ArgumentParser):
    """Usage errors as one line with exit code 2, like sim2real's verbs (argparse prints the
    whole usage first)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see --help)\n")
