"""``sim2real compare``: Taylor & Stone transfer metrics of fine-tuned runs against runs
trained from scratch on the same target, from their learning curves (several seeds each).

Jumpstart, asymptotic performance, total reward (area under the curve), transfer ratio and
time to threshold (default 90% of the scratch asymptote), each with a bootstrap CI across
seeds. Transfer runs with the same name and options (--normalization, --lr-scale,
--dr-width, frozen layers) are one method (their seeds); several methods may be compared at
once. Steps count target samples only: the source policy's
training samples are not counted. Writes report.md, report.json, learning_curves.png/.csv
and the figure to TensorBoard in <out>/tb.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sim2real.commands import path_arg
from sim2real.io import check_output_dir
from sim2real.table import render_table


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "compare",
        help="Taylor & Stone metrics: transfer runs vs scratch runs on one target",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "transfer_runs", nargs="+", metavar="TRANSFER_RUN", help="fine-tuned run directories"
    )
    parser.add_argument(
        "--scratch",
        nargs="+",
        required=True,
        metavar="SCRATCH_RUN",
        help="run directories of `sim2real transfer --strategy scratch`",
    )
    parser.add_argument(
        "--threshold",
        type=float,
        metavar="RETURN",
        help="return for time to threshold (default 90%% of the scratch asymptote)",
    )
    parser.add_argument(
        "--out",
        type=path_arg,
        metavar="DIR",
        help="report directory (default reports/compare-<target>)",
    )
    parser.add_argument("--seed", type=int, default=0, help="bootstrap RNG seed (default 0)")
    parser.add_argument("--n-boot", type=int, default=2000, help="bootstrap resamples (2000)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from sim2real.evaluation.compare import compare_runs, cut_curves
    from sim2real.evaluation.compare_report import metrics_table, write_comparison_report

    # The default directory is named after the target, known once the runs are read.
    check_output_dir(args.out if args.out is not None else Path("reports"), "--out")
    comparison = compare_runs(
        args.transfer_runs, args.scratch, args.threshold, seed=args.seed, n_boot=args.n_boot
    )
    out = args.out
    if out is None:  # only now named: checked like a given --out
        out = check_output_dir(Path("reports") / f"compare-{comparison.target}", "--out")
    for run, end in cut_curves(comparison):
        print(
            f"note: {run.path} was evaluated up to {end:,} target steps; every curve is "
            f"compared up to {int(comparison.timesteps[-1]):,}, where all runs have one",
            file=sys.stderr,
        )
    paths = write_comparison_report(comparison, out)
    table = metrics_table(comparison)
    print(render_table(table.headers[:-1], [row[:-1] for row in table.rows]))
    print(f"threshold: {comparison.threshold:.4g} ({comparison.threshold_rule})")
    print("steps count target samples only; source training samples are not counted")
    print(f"report: {paths.markdown} (+ report.json, learning_curves.png, TensorBoard in {out}/tb)")
    return 0
