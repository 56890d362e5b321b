"""``sim2real identify``: the dynamics values, within a spec's ranges, that reproduce recorded data.

Each recorded episode is cut into segments of --horizon steps; each segment starts from its
recorded state and replays the recorded actions, and the loss is the squared error of the
simulated state (and of the joint torques, when the file holds them; --no-torques leaves them
out), normalized per dimension. CMA-ES searches the spec's ranges (--budget
evaluations, on --workers processes). Writes to DIR: report.md/report.json (each value with
an uncertainty; parameters the data cannot tell apart are reported as such, not fitted),
target.yaml (the fit as a target), spec.yaml (the spec re-centred on the fit),
trajectories.png and loss.png.

A ranged action latency is searched over its whole physics steps (each gets an equal share
of half the budget, the best one the rest); sensor noise, bias and delay are held at their
nominal values.

Exit codes: 0 done; 2 bad input (one line on stderr, nothing written); 1 a worker process died.
"""

from __future__ import annotations

import argparse

from sim2real.io import check_output_dir

DEFAULT_BUDGET = 1000
DEFAULT_HORIZON = 10


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "identify",
        help="fit dynamics values to recorded data (system identification)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("data", metavar="DATA.npz", help="data file from sim2real record")
    add_identify_options(parser)
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="seed (default 0)")
    parser.add_argument("--out", required=True, metavar="DIR", help="new output directory")
    parser.set_defaults(run=run)


def add_identify_options(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    *,
    budget_flag: str = "--budget",
    spec_default: str | None = None,
) -> None:
    """identify's search options, shared with ``transfer --strategy sysid``, where --budget is
    taken (``budget_flag``) and the spec may default to the run's (``spec_default`` says so)."""
    parser.add_argument(
        "--randomization",
        required=spec_default is None,
        metavar="SPEC",
        help="randomization spec whose ranges bound the search (path or shipped name)"
        + (f"; default: {spec_default}" if spec_default else ""),
    )
    parser.add_argument(
        "--params",
        nargs="+",
        default=(),
        metavar="NAME",
        help="parameters to fit, NAME or NAME:ELEMENT (default: every ranged, identifiable one)",
    )
    parser.add_argument(
        budget_flag,
        type=int,
        metavar="EVALS",
        help=f"CMA-ES evaluations (default {DEFAULT_BUDGET}; the analysis of the fit adds at "
        "least 1 + n(n+1) for n values, about 20n more per flat direction)",
    )
    parser.add_argument("--workers", type=int, metavar="K", help="processes (default: cores)")
    parser.add_argument(
        "--horizon",
        type=int,
        metavar="H",
        help=f"steps replayed per segment ({DEFAULT_HORIZON})",
    )
    parser.add_argument(
        "--no-torques",
        action="store_true",
        help="fit the motion only, ignoring the joint torques the data file holds (by default "
        "measured torques are fitted too: they fix the common scale of masses and strength)",
    )


def run(args: argparse.Namespace) -> int:
    from sim2real.evaluation.rollouts import default_workers
    from sim2real.randomization import load_spec
    from sim2real.sysid.identify import identify, plan, prepare
    from sim2real.sysid.report import write_outputs

    check_output_dir(args.out, "--out", new=True)
    setup = prepare(
        args.data,
        load_spec(args.randomization),
        args.params,
        budget=DEFAULT_BUDGET if args.budget is None else args.budget,
        workers=default_workers() if args.workers is None else args.workers,
        seed=args.seed,
        horizon=DEFAULT_HORIZON if args.horizon is None else args.horizon,
        torques=not args.no_torques,
    )
    print(plan(setup))
    result = identify(setup)
    write_outputs(result, args.out)
    identified = len(result.identified)
    print(
        f"{args.out}: {identified} of {len(result.fits)} value(s) identified, loss "
        f"{result.nominal_loss:.4g} (nominal) -> {result.fit_loss:.4g} in "
        f"{result.evaluations} evaluations, {result.wall_s:.1f} s"
    )
    if result.latency is not None:
        verdict = "" if result.latency_identified else " (not identified: losses too close)"
        print(f"  action_latency_s: {result.latency:g}{verdict}")
    for fit in result.fits:
        shown = f"{fit.value:.4g} +- {fit.std:.2g}" if fit.identified else "not identified"
        print(f"  {fit.coordinate.name}: {shown}")
    return 0
