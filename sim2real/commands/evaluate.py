"""``sim2real evaluate``: returns on nominal dynamics, the source DR and each target, the
transfer gap with 95% bootstrap CIs, and (with an oracle) regret; writes a report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sim2real.commands import path_arg
from sim2real.errors import UserError
from sim2real.io import check_output_dir
from sim2real.table import render_table


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="transfer gap of runs on nominal dynamics, source DR and targets (with CIs)",
        description=__doc__,
        epilog="Runs with the same config name count as one method (training seeds); one "
        "trained differently (e.g. --set env.history_steps=10) is a method of its own, named "
        "with the fields that differ. "
        "J_source is the mean return on nominal source dynamics; the gap to the DR "
        "distribution is reported too. CIs: percentile bootstrap of the IQM, episodes "
        "resampled within each run.",
    )
    parser.add_argument("runs", nargs="+", metavar="RUN", help="run directories")
    parser.add_argument(
        "--targets",
        nargs="+",
        metavar="FILE",
        help="target files (paths or shipped names, e.g. cartpole_heavy.yaml); "
        "default: the targets of the runs' configs",
    )
    add_rollout_options(parser, default_episodes=10)
    parser.add_argument(
        "--oracle",
        action="append",
        default=[],
        metavar="TARGET=RUN",
        help="a run trained on TARGET (its name, e.g. heavy, or its file as --targets names it): "
        "adds regret and the fraction of the gap closed (repeatable)",
    )
    parser.add_argument(
        "--baseline",
        metavar="METHOD",
        help="config name whose gap to the oracle the others close (default: the first)",
    )
    parser.add_argument(
        "--out", type=path_arg, default=None, help="report directory (default: reports/evaluate)"
    )
    parser.set_defaults(run=run)


def add_rollout_options(parser: argparse.ArgumentParser, default_episodes: int) -> None:
    """Options shared by the verbs that roll policies out: episodes, seeds, workers, bootstrap."""
    parser.add_argument(
        "--episodes",
        type=int,
        default=default_episodes,
        help=f"episodes per seed (default {default_episodes})",
    )
    parser.add_argument(
        "--seeds",
        nargs="+",
        type=int,
        default=[0],
        metavar="SEED",
        help="evaluation seeds; each runs --episodes episodes in a fresh env (default 0)",
    )
    parser.add_argument(
        "--workers", type=int, default=None, help="parallel processes (default: one per core)"
    )
    parser.add_argument(
        "--stochastic", action="store_true", help="sample actions (default: deterministic)"
    )
    parser.add_argument("--seed", type=int, default=0, help="bootstrap RNG seed (default 0)")
    parser.add_argument(
        "--n-boot", type=int, default=2000, help="bootstrap replicates (default 2000)"
    )


def settings_from_args(args: argparse.Namespace):  # -> EvaluationSettings (imported lazily)
    """EvaluationSettings from the options of :func:`add_rollout_options`."""
    from sim2real.evaluation.evaluate import EvaluationSettings

    return EvaluationSettings(
        episodes=args.episodes,
        seeds=tuple(args.seeds),
        deterministic=not args.stochastic,
        workers=args.workers,
        bootstrap_seed=args.seed,
        n_boot=args.n_boot,
    )


def parse_oracles(items: list[str]) -> dict[str, str]:
    """``["heavy=runs/x"]`` -> ``{"heavy": "runs/x"}``."""
    oracles: dict[str, str] = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise UserError(f"--oracle {item!r}; expected TARGET=RUN, e.g. heavy=runs/oracle")
        if name in oracles:
            raise UserError(f"--oracle {item!r}: target {name!r} already has an oracle")
        oracles[name] = path
    return oracles


def load_targets(names: list[str] | None) -> list | None:
    """Target files from paths or shipped names; None keeps the runs' own targets."""
    if names is None:
        return None
    from sim2real.config import resolve_config_path
    from sim2real.targets import load_target

    return [load_target(resolve_config_path(name, kind="target")) for name in names]


def run(args: argparse.Namespace) -> int:
    from sim2real.evaluation.evaluate import evaluate_runs
    from sim2real.evaluation.evaluate_report import evaluation_table, write_evaluation_report

    settings = settings_from_args(args)
    out = args.out if args.out is not None else Path("reports") / "evaluate"
    check_output_dir(out, "--out")
    evaluation = evaluate_runs(
        args.runs,
        targets=load_targets(args.targets),
        oracles=parse_oracles(args.oracle),
        settings=settings,
        baseline=args.baseline,
        progress=sys.stderr.isatty(),
    )
    paths = write_evaluation_report(evaluation, out)
    table = evaluation_table(evaluation)
    print(render_table(table.headers, table.rows))
    print(f"report: {paths.markdown} (+ report.json, PNGs, TensorBoard in {paths.tensorboard})")
    return 0
