"""Transfer benchmark: zero-shot gaps of DR vs no-DR policies, and fine-tuning vs an oracle.

For one env (CartPole or Hopper), with the shipped experiment configs:

1. trains a source policy with domain randomization (``<env>_dr``) and one without (the same
   config with ``randomization: null``), ``--source-budget`` steps each;
2. **zero-shot gap**: evaluates both on nominal dynamics and on every shipped target
   (``--gap-episodes`` episodes each, deterministic, fixed seeds) and reports
   ``gap = J_nominal - J_target`` per target and its mean over targets.
   Target: the DR policy's mean gap is at most half the no-DR policy's;
3. **fine-tuning vs oracle** on each of ``--oracle-targets``: an oracle is trained from scratch
   on the target (same algorithm and hyperparameters, ``--oracle-budget`` steps); the DR
   policy (and, for contrast, the no-DR one) is fine-tuned (``--strategy full``) on the target
   for ``--finetune-fraction`` x the oracle budget, evaluated after every update; the steps it
   needs to reach 90% of the oracle's final return are compared with the oracle's budget.
   Target: <= 10% of the oracle's samples. Source-training samples are not counted.

    python bench/transfer.py cartpole [--source-budget 100000] [--oracle-budget 100000] \\
        [--oracle-targets heavy hard] [--out bench_out/transfer] [--reuse]
    python bench/transfer.py hopper --source-budget 2000000 --oracle-budget 2000000 ...

Everything lands in ``<out>/<env>/``: run directories, ``results.json`` and ``summary.md``
(the tables for BENCHMARKS.md). ``--reuse`` keeps finished runs of the same budgets.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sim2real.callbacks import EvalCondition, evaluate_conditions, make_condition_env
from sim2real.config import ExperimentConfig, load_config
from sim2real.policies.normalization import load_normalization
from sim2real.runs import Run
from sim2real.targets import Target, shipped_targets
from sim2real.training import train
from sim2real.transfer import transfer
from sim2real.transfer.compare import per_run_metrics

ENVS = {
    "cartpole": {"dr": "cartpole_dr.yaml", "oracle_targets": ("heavy", "hard")},
    "hopper": {"dr": "hopper_dr_ppo.yaml", "oracle_targets": ("heavy", "hard")},
}
FRACTION_OF_ORACLE = 0.9
GAP_SEED = 2_000_000  # evaluation episodes seeded away from every training seed


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = args.out / args.env
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    host = machine()  # the load average before this benchmark adds its own
    torch.set_num_threads(1)  # small MLPs: one thread is fastest next to the envs
    sources = {kind: train_source(args, kind, out) for kind in ("dr", "nodr")}
    targets = {t.name: t for t in shipped_targets(sources["dr"].config.env.id)}
    gaps = {kind: zero_shot(run, targets, args) for kind, run in sources.items()}
    oracle_part = {}
    for name in args.oracle_targets or ENVS[args.env]["oracle_targets"]:
        if name not in targets:
            raise SystemExit(f"--oracle-targets: unknown target {name!r}; valid: {list(targets)}")
        oracle_part[name] = oracle_and_finetune(args, sources, targets[name], out)
    results = {
        "env": args.env,
        "command": " ".join(
            [Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]
        ),
        "machine": host,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "budgets": {
            "source": args.source_budget,
            "oracle": args.oracle_budget,
            "finetune": finetune_budget(args),
            "gap_episodes": args.gap_episodes,
            "eval_episodes": args.eval_episodes,
            "seed": args.seed,
        },
        "targets": {name: target.description for name, target in targets.items()},
        "zero_shot": gaps,
        "zero_shot_verdict": gap_verdict(gaps),
        "finetune_vs_oracle": oracle_part,
        "wall_s": round(time.monotonic() - started, 1),
    }
    (out / "results.json").write_text(json.dumps(results, indent=2, default=float) + "\n")
    summary = summary_markdown(results)
    (out / "summary.md").write_text(summary)
    print(summary)
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("env", choices=sorted(ENVS))
    parser.add_argument("--source-budget", type=int, default=100_000)
    parser.add_argument("--oracle-budget", type=int, default=100_000)
    parser.add_argument(
        "--finetune-fraction",
        type=float,
        default=0.1,
        help="fine-tuning budget as a fraction of the oracle budget (default 0.1: the target)",
    )
    parser.add_argument(
        "--oracle-targets", nargs="*", help="targets for the oracle part (default: heavy hard)"
    )
    parser.add_argument("--gap-episodes", type=int, default=10)
    parser.add_argument("--eval-episodes", type=int, default=5, help="per learning-curve point")
    parser.add_argument(
        "--finetune-evals", type=int, default=10, help="evaluations over the fine-tuning budget"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-envs", type=int, help="override the configs' n_envs")
    parser.add_argument("--out", type=Path, default=Path("bench_out") / "transfer")
    parser.add_argument("--reuse", action="store_true", help="keep finished runs of same budget")
    return parser.parse_args(argv)


def finetune_budget(args: argparse.Namespace) -> int:
    return max(1, round(args.oracle_budget * args.finetune_fraction))


def source_config(args: argparse.Namespace, kind: str) -> ExperimentConfig:
    overrides = [
        f"total_timesteps={args.source_budget}",
        f"seed={args.seed}",
        "evaluation.freq_steps=0",
        "checkpoint.freq_steps=0",
        "device=cpu",
    ]
    if args.n_envs is not None:
        overrides.append(f"n_envs={args.n_envs}")
    if kind == "nodr":
        name = ENVS[args.env]["dr"].replace("_dr", "_nodr").removesuffix(".yaml")
        overrides += ["randomization=null", f"name={name}"]
    return load_config(ENVS[args.env]["dr"], overrides)


def reusable(path: Path, budget: int, args: argparse.Namespace) -> Run | None:
    if not (args.reuse and (path / "run.json").is_file()):
        return None
    run = Run.open(path)
    meta = run.meta
    finished = meta.get("status") == "finished" and meta.get("total_timesteps") == budget
    return run if finished else None


def train_source(args: argparse.Namespace, kind: str, out: Path) -> Run:
    path = out / f"source_{kind}"
    found = reusable(path, args.source_budget, args)
    if found is not None:
        return found
    log(f"training the {kind} source for {args.source_budget:,} steps")
    config = source_config(args, kind)
    return train(config, path, overwrite=True, progress_bar=False, verbose=False)


def evaluate_run(run: Run, conditions: list[EvalCondition], episodes: int) -> dict[str, float]:
    """Mean return of the run's final policy per condition (its normalization, inference mode)."""
    config = run.config
    envs = {
        c.name: make_condition_env(
            config.env.id,
            config.env.kwargs,
            c,
            episodes,
            config.normalize.observations,
            config.normalize.clip_obs,
        )
        for c in conditions
    }
    normalization = (
        load_normalization(run.normalization_path) if run.normalization_path.is_file() else None
    )
    try:
        model = run.load_model()
        returns = evaluate_conditions(model, envs, episodes, True, GAP_SEED, normalization)
    finally:
        for env in envs.values():
            env.close()
    return {name: float(np.mean(values)) for name, values in returns.items()}


def zero_shot(run: Run, targets: dict[str, Target], args: argparse.Namespace) -> dict[str, Any]:
    log(f"zero-shot evaluation of {run.path.name} on nominal + {len(targets)} targets")
    conditions = [EvalCondition("nominal", "nominal")]
    conditions += [EvalCondition(t.name, t.description, target=t) for t in targets.values()]
    means = evaluate_run(run, conditions, args.gap_episodes)
    gaps = {name: means["nominal"] - value for name, value in means.items() if name != "nominal"}
    return {"returns": means, "gaps": gaps, "mean_gap": float(np.mean(list(gaps.values())))}


def gap_verdict(gaps: dict[str, dict[str, Any]]) -> dict[str, Any]:
    dr, nodr = gaps["dr"]["mean_gap"], gaps["nodr"]["mean_gap"]
    ratio = dr / nodr if nodr > 0 else math.nan
    return {"dr_mean_gap": dr, "nodr_mean_gap": nodr, "ratio": ratio, "met": bool(ratio <= 0.5)}


def oracle_and_finetune(
    args: argparse.Namespace, sources: dict[str, Run], target: Target, out: Path
) -> dict[str, Any]:
    oracle_path = out / f"oracle_{target.name}"
    oracle = reusable(oracle_path, args.oracle_budget, args)
    if oracle is None:
        log(f"training the oracle on {target.name} for {args.oracle_budget:,} steps")
        oracle = transfer(
            sources["dr"],
            target,
            args.oracle_budget,
            "scratch",
            seed=args.seed,
            run_dir=oracle_path,
            overwrite=True,
            eval_episodes=args.eval_episodes,
            progress_bar=False,
            verbose=False,
        )
    condition = EvalCondition(target.name, target.description, target=target)
    j_oracle = evaluate_run(oracle, [condition], args.gap_episodes)[target.name]
    threshold = FRACTION_OF_ORACLE * j_oracle
    budget = finetune_budget(args)
    result: dict[str, Any] = {
        "oracle_return": j_oracle,
        "oracle_budget": args.oracle_budget,
        "oracle_curve": oracle.evaluations()["curves"][target.name],
        "oracle_curve_steps": oracle.evaluations()["timesteps"],
        "threshold": threshold,
        "finetune_budget": budget,
    }
    for kind, source in sources.items():
        path = out / f"finetune_{kind}_{target.name}"
        run = reusable(path, budget, args)
        if run is None:
            log(f"fine-tuning the {kind} policy on {target.name} for {budget:,} steps")
            run = transfer(
                source,
                target,
                budget,
                "full",
                seed=args.seed,
                run_dir=path,
                overwrite=True,
                eval_freq=max(1, budget // args.finetune_evals),
                eval_episodes=args.eval_episodes,
                progress_bar=False,
                verbose=False,
            )
        history = run.evaluations()
        steps = np.asarray(history["timesteps"], dtype=float)
        curve = np.asarray(history["curves"][target.name], dtype=float)
        reached = per_run_metrics(curve[None, :], steps, threshold)[0]["time_to_threshold"]
        result[kind] = {
            "curve": curve.tolist(),
            "steps": steps.tolist(),
            "zero_shot": float(curve[0]),
            "final": float(curve[-1]),
            "steps_to_90pct_oracle": None if math.isnan(reached) else int(reached),
            "fraction_of_oracle_budget": None
            if math.isnan(reached)
            else reached / args.oracle_budget,
        }
    dr = result["dr"]["fraction_of_oracle_budget"]
    result["met"] = dr is not None and dr <= 0.1
    return result


def machine() -> dict[str, Any]:
    versions = {}
    for package in ("torch", "stable-baselines3", "pybullet", "gymnasium"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "load_average_1m": os.getloadavg()[0],
        "python": platform.python_version(),
        **versions,
    }


def summary_markdown(results: dict[str, Any]) -> str:
    gaps, verdict = results["zero_shot"], results["zero_shot_verdict"]
    lines = [
        f"### {results['env']}: zero-shot gap J_nominal - J_target "
        f"({results['budgets']['gap_episodes']} episodes per condition)",
        "",
        "| target | DR return | DR gap | no-DR return | no-DR gap |",
        "|---|---|---|---|---|",
        f"| nominal | {gaps['dr']['returns']['nominal']:.1f} | - | "
        f"{gaps['nodr']['returns']['nominal']:.1f} | - |",
    ]
    for name in gaps["dr"]["gaps"]:
        lines.append(
            f"| {name} | {gaps['dr']['returns'][name]:.1f} | {gaps['dr']['gaps'][name]:.1f} | "
            f"{gaps['nodr']['returns'][name]:.1f} | {gaps['nodr']['gaps'][name]:.1f} |"
        )
    lines += [
        f"| **mean** | | **{verdict['dr_mean_gap']:.1f}** | | **{verdict['nodr_mean_gap']:.1f}** |",
        "",
        f"DR / no-DR mean gap = {verdict['ratio']:.2f} (target <= 0.5: "
        f"{'met' if verdict['met'] else 'NOT met'}).",
        "",
        f"### {results['env']}: fine-tuning to 90% of an oracle (target samples only)",
        "",
        "| target | oracle return (budget) | 90% | policy | zero-shot | after fine-tuning "
        "| steps to 90% | % of oracle budget |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, part in results["finetune_vs_oracle"].items():
        for kind in ("dr", "nodr"):
            row = part[kind]
            steps = row["steps_to_90pct_oracle"]
            needed = f"> {part['finetune_budget']:,}" if steps is None else f"{steps:,}"
            fraction = row["fraction_of_oracle_budget"]
            share = f"> {100 * part['finetune_budget'] / part['oracle_budget']:.0f}%"
            lines.append(
                f"| {name} | {part['oracle_return']:.1f} ({part['oracle_budget']:,}) | "
                f"{part['threshold']:.1f} | {'DR' if kind == 'dr' else 'no DR'} | "
                f"{row['zero_shot']:.1f} | {row['final']:.1f} | {needed} | "
                f"{share if fraction is None else f'{100 * fraction:.1f}%'} |"
            )
    info = results["machine"]
    lines += [
        "",
        f"wall time {results['wall_s']:.0f} s on {info['cpus']} CPUs ({info['processor']}, "
        f"load {info['load_average_1m']:.1f} at the start), torch {info['torch']}, "
        f"SB3 {info['stable-baselines3']}; {results['date']}",
        "",
    ]
    return "\n".join(lines)


def log(message: str) -> None:
    print(f"[{datetime.datetime.now():%H:%M:%S}] {message}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
