"""``sim2real transfer``: fine-tune a trained policy on a target into a new run directory.

Strategies: full (every weight trains), freeze (the actor's first --freeze hidden layers are
frozen; default all, so only the action head trains; the critic trains), lr (learning rate
x --lr-scale, default 0.1, a schedule stays a schedule), narrow_dr (a narrow randomization,
+-dr-width relative, default 0.1, around the target's values) and scratch (a fresh model
from the source config trained on the target with the same budget: the baseline for
`sim2real compare`). The learning curve on the target (first point at step 0) goes to
evaluations.json and TensorBoard; steps count target samples only.

sysid identifies the dynamics from --data (a file of `sim2real record`, or a robot's logs) within
--randomization (default: the run's training spec), writes what `sim2real identify` writes into
RUN_DIR/sysid/, then fine-tunes in simulation for --finetune-budget steps under the spec
re-centred on the fit. It uses no target samples beyond the recorded ones (run.json's
transfer.target_samples); its curve is measured on --target when given, else on the identified
target.

Exit codes: 0 finished; 2 bad input (one line on stderr, nothing written); 130 / 143 when
SIGINT / SIGTERM stopped it (run.json says "interrupted"). A stopped run continues with `sim2real
train --resume RUN_DIR` when its config says all it trains: scratch, and the others but freeze
with --normalization refit or a source that does not normalize (they checkpoint like a training
run); a frozen actor or frozen statistics do not survive a resume: run those again with
--overwrite.
"""

from __future__ import annotations

import argparse
import signal

from sim2real.commands.identify import DEFAULT_BUDGET, DEFAULT_HORIZON, add_identify_options
from sim2real.transfer.strategies import NORMALIZATION_MODES, STRATEGIES, TransferOptions


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "transfer",
        help="fine-tune a trained run on a target (or train from scratch there as a baseline)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("source", metavar="RUN", help="source run directory (sim2real train)")
    parser.add_argument(
        "--target",
        metavar="FILE",
        help="target file: a path or a shipped name such as cartpole_heavy.yaml "
        "(required, but for sysid, where it is only evaluated on)",
    )
    parser.add_argument(
        "--budget", type=int, metavar="STEPS", help="target steps to train for (not sysid)"
    )
    parser.add_argument("--strategy", choices=STRATEGIES, default="full", help="default full")
    parser.add_argument(
        "--lr-scale", type=float, metavar="X", help="lr strategy: learning-rate factor (0.1)"
    )
    parser.add_argument(
        "--freeze",
        type=int,
        metavar="LAYERS",
        help="freeze strategy: hidden actor layers to freeze, input side first (default all)",
    )
    parser.add_argument(
        "--normalization",
        choices=NORMALIZATION_MODES,
        default="keep",
        help="keep the source VecNormalize statistics fixed, or refit them on target data "
        "(default keep; scratch always starts fresh)",
    )
    parser.add_argument(
        "--dr-width",
        type=float,
        metavar="X",
        help="narrow_dr strategy: relative half-width around the target (default 0.1)",
    )
    sysid = parser.add_argument_group("sysid strategy")
    sysid.add_argument("--data", metavar="DATA.npz", help="recorded target data (sim2real record)")
    sysid.add_argument(
        "--finetune-budget",
        type=int,
        metavar="STEPS",
        help="simulation steps of fine-tuning (default: a tenth of the source run's)",
    )
    add_identify_options(
        sysid, budget_flag="--identify-budget", spec_default="the run's training spec"
    )
    parser.add_argument("--seed", type=int, metavar="S", help="seed (default: the source's)")
    parser.add_argument(
        "--run-dir",
        metavar="DIR",
        help="run directory (default runs/<source name>-to-<target>-<strategy>-seed<S>)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing run dir")
    parser.add_argument(
        "--eval-freq",
        type=int,
        metavar="STEPS",
        help="target steps between evaluations "
        "(default budget/10; taken after the update that reaches it)",
    )
    parser.add_argument(
        "--eval-episodes", type=int, metavar="N", help="episodes per evaluation (default: source)"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    _check_strategy_options(args)
    _refuse_export(args.source)
    result = _run_sysid(args) if args.strategy == "sysid" else _run_fine_tuning(args)
    meta = result.meta
    if meta["status"] == "interrupted":
        return 128 + signal.Signals[meta.get("interrupted_by") or "SIGINT"].value
    return 0


def _run_fine_tuning(args: argparse.Namespace):
    from sim2real.transfer import transfer  # SB3 and torch load only when transferring

    return transfer(
        args.source,
        args.target,
        args.budget,
        args.strategy,
        lr_scale=args.lr_scale,
        freeze_layers=args.freeze,
        normalization=args.normalization,
        dr_width=args.dr_width,
        seed=args.seed,
        run_dir=args.run_dir,
        overwrite=args.overwrite,
        eval_freq=args.eval_freq,
        eval_episodes=args.eval_episodes,
        progress_bar=not args.no_progress,
    )


def _run_sysid(args: argparse.Namespace):
    from sim2real.evaluation.rollouts import default_workers
    from sim2real.transfer.sysid import transfer_sysid

    return transfer_sysid(
        args.source,
        args.data,
        args.finetune_budget,
        target=args.target,
        randomization=args.randomization,
        params=args.params,
        identify_budget=DEFAULT_BUDGET if args.identify_budget is None else args.identify_budget,
        workers=default_workers() if args.workers is None else args.workers,
        horizon=DEFAULT_HORIZON if args.horizon is None else args.horizon,
        torques=not args.no_torques,
        normalization=args.normalization,
        seed=args.seed,
        run_dir=args.run_dir,
        overwrite=args.overwrite,
        eval_freq=args.eval_freq,
        eval_episodes=args.eval_episodes,
        progress_bar=not args.no_progress,
    )


_SYSID_ONLY = ("data", "finetune_budget", "randomization", "workers", "identify_budget", "horizon")
_SYSID_DEFAULTS = {"params": (), "no_torques": False}


def _check_strategy_options(args: argparse.Namespace) -> None:
    """sysid learns from a data file in simulation; the others train on --target for --budget.
    Options of one strategy given to another are refused (TransferOptions), sysid included."""
    from sim2real.errors import UserError

    TransferOptions(args.strategy, args.lr_scale, args.freeze, args.normalization, args.dr_width)
    if args.strategy == "sysid":
        if args.data is None:
            raise UserError("option '--data' is required by --strategy sysid (a DATA.npz file)")
        if args.budget is not None:
            raise UserError(
                f"option '--budget' = {args.budget}; sysid trains on no target steps: give "
                "--finetune-budget (simulation steps) and --identify-budget (evaluations)"
            )
        return
    for required in ("target", "budget"):
        if getattr(args, required) is None:
            raise UserError(f"option '--{required}' is required by --strategy {args.strategy}")
    given = [name for name in _SYSID_ONLY if getattr(args, name) is not None]
    given += [name for name, default in _SYSID_DEFAULTS.items() if getattr(args, name) != default]
    if given:
        flag = "--" + given[0].replace("_", "-")
        raise UserError(f"option '{flag}' applies to --strategy sysid only, not {args.strategy}")


def _refuse_export(source: str) -> None:
    """An export has the actor only: fine-tuning needs the SB3 model with its critic."""
    from sim2real.errors import UserError
    from sim2real.policies.contract import is_export, read_contract

    if is_export(source):
        run_dir = read_contract(source).data.get("source", {}).get("run")
        raise UserError(
            f"{source}: an exported policy cannot be fine-tuned (it has no critic or optimizer "
            f"state); give the run it was exported from: {run_dir}"
        )
