"""Re-centred training benchmark: ``transfer --strategy sysid`` vs fine-tuning on the target.

For one env (Hopper, or CartPole for a quick check), starting from a DR source policy
(``--source RUN``, e.g. the zoo's Hopper DR run; or one trained here for ``--source-budget``
steps from the shipped DR config), for each target in ``--targets``:

1. the **oracle**: a policy trained from scratch on the target (``--oracle RUN`` per target
   as ``NAME=RUN``, or trained here for ``--oracle-budget`` steps);
2. the **gap**: ``J_oracle - J_source`` on the target (``--episodes`` deterministic episodes);
   targets where the DR policy has no gap (<= ``--min-gap``) are reported and skipped;
3. ``--record-episodes`` (<= 10) episodes recorded on the target with ``--record-policy``
   (``sine`` by default, or ``source``: the DR policy's own logs);
4. **sysid**: ``transfer --strategy sysid`` on that data (identify within the source's
   training spec, ``--identify-budget`` evaluations; ``--pin-torso`` fixes the torso mass at
   its true value, see bench/sysid.py), fine-tuned ``--finetune-budget`` simulation steps;
5. **fine-tuning on the target** (``--strategy full``) with the same number of target samples
   as the recorded steps, asked for: on-policy PPO collects whole rollouts (n_steps x n_envs
   of the source config), so it may use more, and the table shows how many it used;
6. the fraction of the gap each closes: ``(J_method - J_source) / (J_oracle - J_source)``.
   Target (issue 11): sysid closes at least half of the gap with <= 10 target episodes.

    python bench/sysid_transfer.py hopper --source RUN --oracle heavy=RUN ... \\
        [--targets heavy weak_motors] [--record-episodes 10] [--identify-budget 3000] \\
        [--finetune-budget 1000000] [--workers 2] [--out bench_out/sysid_transfer]

Writes ``<out>/<env>/results.json`` and ``summary.md`` (the table for BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import datetime
import math
import sys
import time
from pathlib import Path
from typing import Any

import gymnasium as gym

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_parser import (  # noqa: E402
    BenchParser,
    check_unique,
    count,
    output_path,
    real,
    run_bench,
)
from sysid import spec_for  # noqa: E402  bench/sysid.py: the torso-pinned spec
from transfer import (  # noqa: E402  bench/transfer.py
    ENVS,
    completed,
    evaluate_run,
    log,
    machine,
    reusable,
    source_config,
)

from sim2real import limits  # noqa: E402
from sim2real.config import ExperimentConfig  # noqa: E402
from sim2real.data import save_data  # noqa: E402
from sim2real.errors import UserError  # noqa: E402
from sim2real.evaluation.conditions import Condition, make_env, target_condition  # noqa: E402
from sim2real.io import atomic_write_text, check_output_dir, write_json  # noqa: E402
from sim2real.randomization import RandomizationSpec  # noqa: E402
from sim2real.record import record  # noqa: E402
from sim2real.runs import Run  # noqa: E402
from sim2real.sysid.identify import BUDGET, MIN_BUDGET, check_budget_shares  # noqa: E402
from sim2real.sysid.space import search_space  # noqa: E402
from sim2real.targets import Target, shipped_targets_named  # noqa: E402
from sim2real.training import train  # noqa: E402
from sim2real.transfer import transfer  # noqa: E402
from sim2real.transfer.sysid import transfer_sysid  # noqa: E402

HALF = 0.5
RECORD_EPISODES = limits.Limit(10, "sysid works from at most 10 recorded episodes (issue 11)")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = check_output_dir(args.out / args.env, "option '--out'")
    if args.source and args.source_budget is not None:
        raise UserError(
            "option '--source-budget': the bench trains no source when --source is given"
        )
    config = source_config(args, "dr", args.seed)
    given = open_run(args.source, "--source", config.env.id) if args.source else None
    source_spec = (given.config if given else config).randomization
    names = args.targets or list(ENVS[args.env]["oracle_targets"])
    targets = {t.name: t for t in shipped_targets_named(config.env.id, names, "option '--targets'")}
    oracles = oracle_runs(args.oracle, names, config.env.id)
    check_identify_budget(args.identify_budget, config, source_spec)
    out.mkdir(parents=True, exist_ok=True)
    source = given or train_source(args, out)
    started = time.perf_counter()
    results = {
        "env": args.env,
        "source": str(source.path),
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "machine": machine(),
        "date": datetime.date.today().isoformat(),
        "targets": {
            name: one_target(args, source, targets[name], oracles.get(name), out) for name in names
        },
    }
    results["wall_s"] = time.perf_counter() - started
    write_json(out / "results.json", results)
    summary = summary_markdown(results)
    atomic_write_text(out / "summary.md", summary)
    print(summary)
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = BenchParser(description=__doc__.split("\n")[0])
    parser.add_argument("env", choices=sorted(ENVS))
    parser.add_argument("--source", help="DR source run (default: train one here)")
    parser.add_argument(
        "--source-budget", type=count(limits.TOTAL_TIMESTEPS), help="default: the DR config's"
    )
    parser.add_argument("--oracle", nargs="*", default=[], metavar="TARGET=RUN")
    parser.add_argument("--oracle-budget", type=count(limits.TOTAL_TIMESTEPS), default=1_000_000)
    parser.add_argument("--targets", nargs="*", help="target names (default: heavy hard)")
    parser.add_argument("--record-episodes", type=count(RECORD_EPISODES), default=10)
    parser.add_argument("--record-policy", choices=("sine", "random", "source"), default="sine")
    parser.add_argument("--identify-budget", type=count(BUDGET, MIN_BUDGET), default=3000)
    parser.add_argument("--pin-torso", action="store_true", help="Hopper: torso mass known")
    parser.add_argument("--finetune-budget", type=count(limits.TOTAL_TIMESTEPS), default=1_000_000)
    parser.add_argument(
        "--episodes", type=count(limits.EPISODES), default=10, help="per final evaluation"
    )
    parser.add_argument(
        "--eval-episodes", type=count(limits.EPISODES), default=3, help="per learning-curve point"
    )
    parser.add_argument("--min-gap", type=real(-math.inf), default=0.0)
    parser.add_argument("--workers", type=count(limits.WORKERS), default=2)
    parser.add_argument("--n-envs", type=count(limits.N_ENVS), help="override the config's n_envs")
    parser.add_argument("--seed", type=count(limits.SEED, 0), default=0)
    parser.add_argument("--out", type=output_path, default=Path("bench_out") / "sysid_transfer")
    parser.add_argument("--reuse", action="store_true", help="keep finished runs of same budget")
    args = parser.parse_args(argv)
    check_unique(parser, args.targets or [], "--targets")
    args.seeds = [args.seed]
    return args


def oracle_runs(items: list[str], targets: list[str], env_id: str) -> dict[str, str]:
    """``--oracle TARGET=RUN ...`` as {target: run}, each TARGET one of ``targets`` and each
    RUN a run of ``env_id``."""
    oracles: dict[str, str] = {}
    for item in items:
        name, _, run = item.partition("=")
        problem = (
            "expected TARGET=RUN" if not run
            else "a second oracle for that target" if name in oracles
            else f"{name!r} is not a target this bench measures" if name not in targets
            else ""
        )  # fmt: skip
        if problem:
            raise UserError(
                f"option '--oracle' {item!r}: {problem}; TARGET one of {', '.join(targets)}"
            )
        open_run(run, f"--oracle {name}", env_id)
        oracles[name] = run
    return oracles


def open_run(path: str, option: str, env_id: str) -> Run:
    """The run (or zoo entry) ``path``, which must be a policy for ``env_id``."""
    run = Run.open(path)
    if run.config.env.id != env_id:
        raise UserError(
            f"option '{option}' {path}: a policy for {run.config.env.id}; this bench's env is "
            f"{env_id}"
        )
    return run


def check_identify_budget(
    budget: int, config: ExperimentConfig, spec: RandomizationSpec | None
) -> None:
    """sysid's identify searches ``spec`` (the source's training spec) and shares ``budget``
    among the latencies it allows."""
    env = gym.make(config.env.id, **config.env.kwargs)
    try:
        space = search_space(env.unwrapped, spec or RandomizationSpec())
    finally:
        env.close()
    check_budget_shares(budget, space, "option '--identify-budget'")


def train_source(args: argparse.Namespace, out: Path) -> Run:
    path = out / "source_dr"
    found = reusable(path, args.source_budget, args)
    if found is not None:
        return found
    log(f"training the DR source for {args.source_budget or 'the config'} steps")
    config = source_config(args, "dr", args.seed)
    return completed(train(config, path, overwrite=True, progress_bar=False, verbose=False))


def one_target(
    args: argparse.Namespace, source: Run, target: Target, oracle_run: str | None, out: Path
) -> dict[str, Any]:
    condition = Condition(target.name, target.description, target=target)
    oracle = Run.open(oracle_run) if oracle_run else train_oracle(args, source, target, out)
    j_oracle = evaluate_run(oracle, [condition], args.episodes)[target.name]
    j_source = evaluate_run(source, [condition], args.episodes)[target.name]
    gap = j_oracle - j_source
    result: dict[str, Any] = {"oracle": j_oracle, "source": j_source, "gap": gap}
    if gap <= args.min_gap:
        log(f"{target.name}: no gap ({gap:.1f}); skipped")
        return {**result, "skipped": "no gap"}
    data_path = record_data(args, source, target, out)
    sysid_run = run_sysid(args, source, target, data_path, out)
    samples = int(sysid_run.meta["transfer"]["target_samples"])
    finetuned = run_finetune(args, source, target, samples, out)
    for name, run in (("sysid", sysid_run), ("finetune", finetuned)):
        value = evaluate_run(run, [condition], args.episodes)[target.name]
        result[name] = {
            "return": value,
            "gap_closed": (value - j_source) / gap,
            "run": str(run.path),
        }
    # On-policy fine-tuning collects whole rollouts: it may take more samples than asked.
    result["finetune"]["target_samples"] = int(finetuned.meta["timesteps"])
    result["target_samples"] = samples
    result["target_episodes"] = sysid_run.meta["transfer"]["target_episodes"]
    result["identified"] = sysid_run.meta["transfer"]["identified"]
    result["met"] = result["sysid"]["gap_closed"] >= HALF and result["target_episodes"] <= 10
    return result


def train_oracle(args: argparse.Namespace, source: Run, target: Target, out: Path) -> Run:
    path = out / f"oracle_{target.name}"
    found = reusable(path, args.oracle_budget, args)
    if found is not None:
        return found
    log(f"training the oracle on {target.name} for {args.oracle_budget:,} steps")
    return completed(transfer(
        source, target, args.oracle_budget, "scratch", seed=args.seed, run_dir=path,
        overwrite=True, eval_episodes=args.eval_episodes, progress_bar=False, verbose=False,
    ))  # fmt: skip


def record_data(args: argparse.Namespace, source: Run, target: Target, out: Path) -> Path:
    policy = str(source.path) if args.record_policy == "source" else args.record_policy
    env = make_env(source.config.env.id, target_condition(target), source.config.env.kwargs)
    try:
        data = record(env, policy, args.record_episodes, seed=args.seed)
    finally:
        env.close()
    log(f"{target.name}: recorded {data.episodes} episodes, {data.steps} steps ({policy})")
    return save_data(out / f"{target.name}.npz", data)


def run_sysid(args: argparse.Namespace, source: Run, target: Target, data: Path, out: Path) -> Run:
    spec = None
    if args.pin_torso:
        env = make_env(source.config.env.id, target_condition(target))
        try:
            spec = spec_for(env.unwrapped.get_dynamics(), pin_torso=True)
        finally:
            env.close()
    log(
        f"{target.name}: sysid ({args.identify_budget} evaluations, {args.finetune_budget:,} steps)"
    )
    return completed(transfer_sysid(
        source, data, args.finetune_budget, target=target, randomization=spec,
        identify_budget=args.identify_budget, workers=args.workers, seed=args.seed,
        run_dir=out / f"sysid_{target.name}", overwrite=True, eval_episodes=args.eval_episodes,
        progress_bar=False, verbose=False,
    ))  # fmt: skip


def run_finetune(
    args: argparse.Namespace, source: Run, target: Target, samples: int, out: Path
) -> Run:
    log(f"{target.name}: fine-tuning on the target for {samples:,} target steps")
    return completed(transfer(
        source, target, samples, "full", seed=args.seed, run_dir=out / f"finetune_{target.name}",
        overwrite=True, eval_episodes=args.eval_episodes, progress_bar=False, verbose=False,
    ))  # fmt: skip


def summary_markdown(results: dict[str, Any]) -> str:
    settings = results["settings"]
    lines = [
        f"Source `{results['source']}`; {settings['record_episodes']} recorded episodes "
        f"({settings['record_policy']}), identify {settings['identify_budget']} evaluations"
        f"{' (torso mass pinned)' if settings['pin_torso'] else ''}, sysid fine-tuning "
        f"{settings['finetune_budget']:,} simulation steps; {settings['episodes']} evaluation "
        f"episodes; {results['date']}, {results['wall_s'] / 60:.0f} min.",
        "",
        "| target | J source | J oracle | gap | target samples | sysid: J, gap closed | "
        "fine-tune on the target: samples, J, gap closed | sysid >= half? |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results["targets"].items():
        if "skipped" in r:
            lines.append(
                f"| {name} | {r['source']:.1f} | {r['oracle']:.1f} | {r['gap']:.1f} | "
                "- | - | - | no gap |"
            )
            continue
        s, f = r["sysid"], r["finetune"]
        lines.append(
            f"| {name} | {r['source']:.1f} | {r['oracle']:.1f} | {r['gap']:.1f} | "
            f"{r['target_samples']} ({r['target_episodes']} ep.) | {s['return']:.1f}, "
            f"{s['gap_closed']:.0%} | {f['target_samples']}, {f['return']:.1f}, "
            f"{f['gap_closed']:.0%} | "
            f"{'yes' if r['met'] else 'no'} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    run_bench(main)
