"""``sim2real train``: train a policy from an experiment config into a run directory.

Exit codes: 0 finished; 2 bad input (one line on stderr, nothing written); 130 / 143 when
SIGINT / SIGTERM stopped training (128 + signal number, the shell convention): a final
checkpoint was saved, ``run.json`` says ``"status": "interrupted"``, and
``sim2real train --resume RUN_DIR`` continues the run; 1 when training failed (e.g. a crashed
env worker, one line naming it): the model and a checkpoint were saved first, ``run.json``
says ``"status": "failed"`` with the ``"error"``, and ``--resume`` continues it too.
"""

from __future__ import annotations

import argparse
import signal

from sim2real import limits
from sim2real.errors import UserError
from sim2real.io import check_output_dir


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a policy from an experiment config (YAML) into a run directory",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "config",
        nargs="?",
        metavar="CONFIG",
        help="experiment config: a YAML path or a shipped name such as cartpole_dr.yaml",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config field, e.g. --set total_timesteps=50000 (repeatable)",
    )
    parser.add_argument(
        "--run-dir", metavar="DIR", help="run directory (default runs/<name>-seed<seed>)"
    )
    parser.add_argument("--seed", type=int, metavar="S", help="seed (overrides the config's)")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace an existing run directory"
    )
    parser.add_argument(
        "--resume",
        metavar="RUN_DIR",
        help="continue an interrupted or killed run from its latest checkpoint",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from sim2real.training import train  # SB3 and torch load only when training

    progress = not args.no_progress
    if args.resume is not None:
        given = [
            flag
            for flag, present in (
                ("CONFIG", args.config is not None),
                ("--set", bool(args.overrides)),
                ("--run-dir", args.run_dir is not None),
                ("--seed", args.seed is not None),  # --seed 0 is given too
                ("--overwrite", args.overwrite),
            )
            if present
        ]
        if given:
            raise UserError(
                f"--resume {args.resume}: a resumed run keeps its own config and directory; "
                f"drop {', '.join(given)}"
            )
        check_output_dir(args.resume, "--resume")  # the resumed run writes into it
        result = train(run_dir=args.resume, resume=True, progress_bar=progress)
    else:
        if args.config is None:
            raise UserError("give a CONFIG (e.g. cartpole_dr.yaml) or --resume RUN_DIR")
        from sim2real.config import load_config, resolve_config_path

        path = resolve_config_path(args.config)
        if args.seed is not None:  # said as the option given, not as the --set it becomes
            limits.check_count(args.seed, limits.SEED, "--seed", minimum=0)
        overrides = [*args.overrides, *([f"seed={args.seed}"] if args.seed is not None else [])]
        config = load_config(path, overrides)
        result = train(
            config,
            run_dir=args.run_dir,
            overwrite=args.overwrite,
            progress_bar=progress,
            source=str(path),
        )
    meta = result.meta
    if meta["status"] == "interrupted":
        number = signal.Signals[meta.get("interrupted_by") or "SIGINT"].value
        return 128 + number
    return 0
