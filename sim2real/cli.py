"""The ``sim2real`` command: parse arguments, call one verb, turn bad input into exit code 2."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from sim2real.errors import UserError

# Each verb lives in sim2real/commands/<verb>.py with add_parser(subparsers) and run(args) -> int.
VERBS = ("envs", "rollout", "train", "evaluate", "sweep", "transfer", "compare", "export", "demo")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sim2real",
        description="Domain-randomized PyBullet worlds, training, transfer and evaluation.",
    )
    subparsers = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    for verb in VERBS:
        importlib.import_module(f"sim2real.commands.{verb}").add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except UserError as error:
        print(f"sim2real {args.verb}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"sim2real {args.verb}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
