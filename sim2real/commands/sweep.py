"""``sim2real sweep``: a policy's return over a 1-D or 2-D grid of fixed dynamics values,
as a curve with its confidence band or a heatmap, with the training DR range and the
targets marked; writes report.md/json, sweep.csv and sweep.png."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sim2real.commands import path_arg
from sim2real.commands.evaluate import add_rollout_options, load_targets, settings_from_args
from sim2real.io import check_output_dir
from sim2real.table import render_table

VALUES_HELP = (
    "grid values of the matching --param: LO:HI:N (N evenly spaced values, ends included) or "
    "a list a,b,c. ABSOLUTE values of the parameter, written to every selected element "
    "(e.g. link_mass:pole 0.05:0.5:10 = pole mass in kg), or multiples of each element's "
    "nominal value with --scale. Negative values need '=': --values=-12:-6:4"
)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sweep",
        help="return over a 1-D/2-D grid of fixed dynamics (curve or heatmap)",
        description=__doc__,
        epilog="Example: sim2real sweep runs/cartpole_dr-seed0 --param link_mass:pole "
        "--values 0.5:4:8 --scale --param motor_strength --values 0.3:1.2:4. "
        "Parameters not swept stay nominal; see `sim2real envs --elements` for names.",
    )
    parser.add_argument(
        "runs", nargs="+", metavar="RUN", help="run directory (several: seeds of one config)"
    )
    parser.add_argument(
        "--param",
        action="append",
        required=True,
        metavar="NAME[:SELECTOR]",
        help="parameter to sweep, optionally restricted to elements (names or globs, "
        "comma-separated), e.g. link_mass:pole; give it once (curve) or twice (heatmap)",
    )
    parser.add_argument(
        "--values", action="append", required=True, metavar="LO:HI:N", help=VALUES_HELP
    )
    parser.add_argument(
        "--scale", action="store_true", help="values are multiples of nominal (all axes)"
    )
    parser.add_argument(
        "--targets",
        nargs="+",
        metavar="FILE",
        help="targets to mark (default: the run config's targets)",
    )
    add_rollout_options(parser, default_episodes=5)
    parser.add_argument(
        "--out", type=path_arg, default=None, help="report directory (default: reports/sweep)"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from sim2real.evaluation.grid import parse_axes
    from sim2real.evaluation.sweep import run_sweep
    from sim2real.evaluation.sweep_report import sweep_table, write_sweep_report

    axes = parse_axes(args.param, args.values, args.scale)
    settings = settings_from_args(args)
    out = args.out if args.out is not None else Path("reports") / "sweep"
    check_output_dir(out, "--out")
    sweep = run_sweep(
        args.runs,
        axes,
        settings,
        targets=load_targets(args.targets),
        progress=sys.stderr.isatty(),
    )
    paths = write_sweep_report(sweep, out)
    table = sweep_table(sweep)
    print(render_table(table.headers, table.rows))
    print(f"report: {paths.markdown} (+ report.json, sweep.csv, sweep.png, TensorBoard)")
    return 0
