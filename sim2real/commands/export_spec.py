"""``sim2real export-spec``: write the ranges an ADR run reached as a randomization spec.

The spec is the run's own (same terms, operations and order) with each range ADR controls
replaced by its current bounds (a zero-width one becomes a fixed ``value``), read from the run's
adr.json: the final bounds of a finished run, the latest of one still training. It loads with
``load_spec`` and goes wherever a spec does (``randomization:`` in a config, ``gym.make``).
Written atomically; an existing file only with ``--overwrite``. Exit code 2, one line: RUN is
not a run, or not an ADR run, or the file exists.
"""

from __future__ import annotations

import argparse

from sim2real.commands import path_arg


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export-spec",
        help="write an ADR run's reached ranges as a randomization spec (YAML)",
        description=__doc__,
    )
    parser.add_argument("run_dir", metavar="RUN", type=path_arg, help="run directory of an ADR run")
    parser.add_argument(
        "--out", type=path_arg, required=True, metavar="SPEC.yaml", help="spec file"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from sim2real.transfer.adr_run import export_spec

    path = export_spec(args.run_dir, args.out, overwrite=args.overwrite)
    print(f"wrote {path} (the ADR ranges of {args.run_dir})")
    return 0
