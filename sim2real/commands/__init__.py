"""One module per CLI verb: ``add_parser(subparsers)`` and ``run(args) -> int``."""

from __future__ import annotations

import argparse
from pathlib import Path


def path_arg(text: str) -> Path:
    """argparse type of a path option: the empty string (``Path("")`` is ".") is refused."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"{text!r}: empty; give a path")
    return Path(text)
