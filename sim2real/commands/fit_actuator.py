"""``sim2real fit-actuator``: train an actuator network on recorded joint torques.

A small MLP learns, from the last --history commands and joint velocities of every actuated
joint, the torque each joint receives (Hwangbo et al. 2019's actuator network); the last
--validation fraction of the episodes is held out. ACT_DIR gets actuator.json (the inputs),
weights.npz (no pickle), report.json and report.md (RMS torque error on training and
held-out data, as % of each joint's torque range, next to that of an ideal actuator).
Train with it through the env option `actuator: {learned: ACT_DIR}` (env.kwargs in a config).

Exit codes: 0 done; 2 bad input (one line on stderr, nothing written).
"""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "fit-actuator",
        help="train an actuator network on recorded joint torques",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("data", metavar="DATA.npz", help="data file from sim2real record")
    parser.add_argument("--out", required=True, metavar="ACT_DIR", help="new output directory")
    parser.add_argument("--history", type=int, default=3, metavar="N", help="steps of input (3)")
    parser.add_argument("--epochs", type=int, default=300, metavar="E", help="epochs (300)")
    parser.add_argument(
        "--hidden", type=int, nargs="+", default=[64, 64], metavar="UNITS", help="(64 64)"
    )
    parser.add_argument(
        "--validation", type=float, default=0.2, metavar="F", help="episodes held out (0.2)"
    )
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="seed (0)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from sim2real.actuator_fit import FitSettings, fit_actuator, write_fit
    from sim2real.io import check_output_dir

    check_output_dir(args.out, "--out", new=True)
    settings = FitSettings(
        history=args.history,
        epochs=args.epochs,
        hidden=tuple(args.hidden),
        validation=args.validation,
        seed=args.seed,
    )
    fit = fit_actuator(args.data, settings)
    write_fit(fit, args.out)
    report = fit.report
    print(
        f"{args.out}: torque error (RMS, % of range) {report['train_rmse_percent']:.2f}% "
        f"train, {report['validation_rmse_percent']:.2f}% held out "
        f"(ideal actuator: {report['ideal_validation_rmse_percent']:.2f}%) in "
        f"{report['wall_s']:.1f} s"
    )
    return 0
