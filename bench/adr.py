"""ADR benchmark: automatic domain randomization vs the hand-tuned DR spec at the same budget.

For one env, per seed, trains the shipped ADR config (``hopper_adr_ppo.yaml``,
``cartpole_adr.yaml``) and the shipped hand-tuned DR config (``hopper_dr_ppo.yaml``,
``cartpole_dr.yaml``) for the same ``--timesteps`` (default: the DR config's), then compares

1. **widths**: per parameter, the range ADR reached (its run's adr.json) against the
   hand-tuned spec's range: width of each, and whether ADR's covers the hand-tuned one.
   Target: ADR's is at least as wide on every parameter;
2. **worst-target return**: each policy's final deterministic evaluation (``--episodes``
   episodes per target, the runs' summary.json), the lowest mean return over the shipped
   targets. Target: ADR's is no lower than the hand-tuned DR policy's.

    python bench/adr.py hopper --seeds 0 1 2                  # the real benchmark: hours
    python bench/adr.py cartpole --timesteps 20000 --seeds 0  # a smoke run in minutes

Everything lands in ``<out>/<env>/``: the run directories, ``results.json`` and ``summary.md``.
``--reuse`` keeps finished runs of the same budget.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_parser import BenchParser, check_unique, count, output_path, run_bench  # noqa: E402
from transfer import completed  # noqa: E402  bench/transfer.py

from sim2real import limits  # noqa: E402
from sim2real.config import ExperimentConfig, load_config  # noqa: E402
from sim2real.io import atomic_write_text, check_output_dir, write_json  # noqa: E402
from sim2real.runs import Run  # noqa: E402
from sim2real.training import train  # noqa: E402
from sim2real.transfer.adr import parameter_names  # noqa: E402
from sim2real.transfer.adr_run import read_adr_run  # noqa: E402

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
ENVS = {
    "cartpole": {"adr": "cartpole_adr.yaml", "dr": "cartpole_dr.yaml"},
    "hopper": {"adr": "hopper_adr_ppo.yaml", "dr": "hopper_dr_ppo.yaml"},
}
METHODS = ("adr", "dr")
CONDITIONS_NOT_TARGETS = ("nominal", "dr")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = check_output_dir(args.out / args.env, "option '--out'")
    budget = args.timesteps or config_for(args, "dr", args.seeds[0]).total_timesteps
    for seed in args.seeds:  # every config checked before any training
        for method in METHODS:
            config_for(args, method, seed, budget)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    started = time.monotonic()
    per_seed = {seed: run_seed(args, seed, budget, out / f"seed{seed}") for seed in args.seeds}
    results = {
        "env": args.env,
        "timesteps": budget,
        "seeds": args.seeds,
        "episodes": args.episodes,
        "per_seed": per_seed,
        "machine": f"{platform.processor() or platform.machine()}, {_cpus()} CPUs",
        "date": datetime.date.today().isoformat(),
        "wall_s": round(time.monotonic() - started),
        "command": " ".join(["python", "bench/adr.py", *(argv or sys.argv[1:])]),
    }
    write_json(out / "results.json", results)
    summary = summary_markdown(results)
    atomic_write_text(out / "summary.md", summary)
    print(summary)
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = BenchParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("env", choices=list(ENVS))
    parser.add_argument("--seeds", type=count(limits.SEED, 0), nargs="+", default=[0])
    parser.add_argument(
        "--timesteps",
        type=count(limits.TOTAL_TIMESTEPS),
        help="budget of each run (default: the DR config's)",
    )
    parser.add_argument(
        "--episodes",
        type=count(limits.EPISODES),
        default=10,
        help="final evaluation episodes per target",
    )
    parser.add_argument(
        "--n-envs", type=count(limits.N_ENVS), help="override n_envs of both configs"
    )
    parser.add_argument("--vec-env", choices=["dummy", "subproc"], help="override vec_env")
    parser.add_argument("--out", type=output_path, default=Path("bench_out/adr"))
    parser.add_argument("--reuse", action="store_true", help="keep finished runs of this budget")
    args = parser.parse_args(argv)
    check_unique(parser, args.seeds, "--seeds")
    return args


def config_for(
    args: argparse.Namespace, method: str, seed: int, budget: int | None = None
) -> ExperimentConfig:
    overrides = [f"seed={seed}", f"evaluation.episodes={args.episodes}", "evaluation.freq_steps=0"]
    if budget is not None:
        overrides.append(f"total_timesteps={budget}")
    if args.n_envs is not None:
        overrides.append(f"n_envs={args.n_envs}")
    if args.vec_env is not None:
        overrides.append(f"vec_env={args.vec_env}")
    return load_config(CONFIGS / ENVS[args.env][method], overrides)


def run_seed(args: argparse.Namespace, seed: int, budget: int, folder: Path) -> dict[str, Any]:
    runs = {}
    for method in METHODS:
        config = config_for(args, method, seed, budget)
        path = folder / method
        if args.reuse and _finished(path, budget):
            runs[method] = Run.open(path)
            continue
        print(f"seed {seed}: training {config.name} for {budget:,} timesteps -> {path}", flush=True)
        runs[method] = completed(
            train(config, path, overwrite=True, progress_bar=False, verbose=False)
        )
    return {
        "widths": compare_widths(runs["adr"], runs["dr"]),
        "targets": {method: target_returns(run) for method, run in runs.items()},
        "entropy": read_adr_run(runs["adr"].path)[1].entropy(),
    }


def _finished(path: Path, budget: int) -> bool:
    """A finished run of ``budget`` at ``path``; a damaged one is an error, not retrained."""
    if not (path / "run.json").is_file():
        return False
    meta = Run.open(path).meta
    return meta.get("status") == "finished" and meta.get("total_timesteps") == budget


def compare_widths(adr_run: Run, dr_run: Run) -> dict[str, dict[str, Any]]:
    """Per ADR parameter: the range ADR reached and the hand-tuned spec's (draw units)."""
    _, adr, _ = read_adr_run(adr_run.path)
    hand = dr_run.config.randomization
    hand_ranges = {
        name: (hand.terms[index].distribution.low, hand.terms[index].distribution.high)
        for index, name in parameter_names(hand).items()
    }
    rows = {}
    for name, (low, high) in adr.bounds.items():
        hand_low, hand_high = hand_ranges.get(name, (np.nan, np.nan))
        rows[name] = {
            "adr": [low, high],
            "hand_tuned": [hand_low, hand_high],
            "adr_width": high - low,
            "hand_width": hand_high - hand_low,
            "covers": bool(low <= hand_low and high >= hand_high),
        }
    return rows


def target_returns(run: Run) -> dict[str, float]:
    """Final mean return per shipped target (summary.json)."""
    conditions = run.summary()["conditions"]
    return {
        name: float(row["mean"])
        for name, row in conditions.items()
        if name not in CONDITIONS_NOT_TARGETS
    }


def summary_markdown(results: dict[str, Any]) -> str:
    env, seeds = results["env"], results["seeds"]
    lines = [
        f"#### {env}: ADR vs hand-tuned DR, {results['timesteps']:,} timesteps each, seeds {seeds}",
        "",
        "Ranges (draw units: factor for scale, offset for add, value for abs):",
        "",
        "| parameter | hand-tuned | "
        + " | ".join(f"ADR seed {s}" for s in seeds)
        + " | ADR >= hand-tuned |",
        "|---|---|" + "---|" * len(seeds) + "---|",
    ]
    first = results["per_seed"][seeds[0]]["widths"]
    for name in first:
        rows = [results["per_seed"][s]["widths"][name] for s in seeds]
        hand = rows[0]["hand_tuned"]
        reached = " | ".join(f"[{r['adr'][0]:.3g}, {r['adr'][1]:.3g}]" for r in rows)
        wide = sum(r["adr_width"] >= r["hand_width"] - 1e-12 for r in rows)
        lines.append(
            f"| {name} | [{hand[0]:.3g}, {hand[1]:.3g}] | {reached} | {wide}/{len(rows)} |"
        )
    lines += [
        "",
        f"Final return per target ({results['episodes']} deterministic episodes), mean over seeds:",
        "",
    ]
    targets = list(results["per_seed"][seeds[0]]["targets"]["dr"])
    lines += [
        "| method | " + " | ".join(targets) + " | worst target |",
        "|---|" + "---|" * (len(targets) + 1),
    ]
    for method in METHODS:
        per_target = [
            np.mean([results["per_seed"][s]["targets"][method][t] for s in seeds]) for t in targets
        ]
        worst = [min(results["per_seed"][s]["targets"][method].values()) for s in seeds]
        cells = " | ".join(f"{value:.1f}" for value in per_target)
        each = ", ".join(f"{value:.1f}" for value in worst)
        lines.append(f"| {method} | {cells} | {np.mean(worst):.1f} (seeds: {each}) |")
    lines += ["", f"{results['machine']}; {results['date']}; {results['wall_s']} s wall.", ""]
    return "\n".join(lines)


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


if __name__ == "__main__":
    run_bench(main)
