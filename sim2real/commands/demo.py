"""``sim2real demo``: the main job on CartPole — DR vs no DR on every target, then fine-tuning
— and the same gap table for the Hopper from the pretrained zoo.

Every option is checked before training starts. Exit codes: 0 done; 2 bad input (one line,
nothing written); 130 / 143 when SIGINT / SIGTERM stopped it: its training processes stop
too, each saving a checkpoint of its run.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sim2real.commands import path_arg


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="train CartPole with and without DR, evaluate on every target, fine-tune, report",
        description=__doc__,
    )
    parser.add_argument(
        "--out",
        type=path_arg,
        default=Path("demo"),
        help="output directory for runs and reports (default ./demo; rewritten)",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="config override for both trainings",
    )
    parser.add_argument(
        "--transfer-budget",
        type=int,
        default=20_000,
        help="target steps for fine-tuning and the scratch baseline (default 20000)",
    )
    parser.add_argument(
        "--transfer-seeds",
        type=int,
        nargs="+",
        default=[0, 1],
        help="seeds of the fine-tuning and scratch runs (default 0 1)",
    )
    parser.add_argument(
        "--episodes", type=int, default=10, help="evaluation episodes per condition (default 10)"
    )
    parser.add_argument(
        "--hopper-episodes",
        type=int,
        default=3,
        help="episodes per condition for the zoo's Hopper policies (default 3; 0 skips them)",
    )
    parser.add_argument("--workers", type=int, default=2, help="parallel processes (default 2)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from sim2real.demo import DemoPlan, run_demo
    from sim2real.processes import sigterm_raises

    plan = DemoPlan(
        out_dir=args.out,
        train_overrides=tuple(args.overrides),
        transfer_budget=args.transfer_budget,
        transfer_seeds=tuple(args.transfer_seeds),
        transfer_eval_freq=max(1, args.transfer_budget // 5),
        eval_episodes=args.episodes,
        hopper_episodes=args.hopper_episodes,
        workers=args.workers,
    )
    with sigterm_raises():  # SIGTERM stops the children as Ctrl-C does (see sim2real.processes)
        run_demo(plan)
    return 0
