"""Transfer benchmark: zero-shot gaps of DR vs no-DR policies, and fine-tuning vs an oracle.

For one env (CartPole or Hopper), with the shipped experiment config (``<env>_dr``), per seed:

1. trains a source policy with domain randomization and one without (the same config with
   ``randomization: null``), ``--source-budget`` steps each (default: the config's);
2. **zero-shot gap**: evaluates both on nominal dynamics and on every shipped target
   (``--gap-episodes`` episodes each, deterministic, fixed seeds):
   ``gap = J_nominal - J_target`` per target, and its mean over targets.
   Target: the DR policy's mean gap is at most half the no-DR policy's;
3. **fine-tuning vs oracle** on each of ``--oracle-targets``: an oracle is trained from scratch
   on the target (same algorithm and hyperparameters, ``--oracle-budget`` steps, default the
   config's); the DR policy (and, for contrast, the no-DR one) is fine-tuned
   (``--strategy full``) on the target for ``--finetune-fraction`` x the oracle budget,
   evaluated after every update; the target steps it needs to reach 90% of the oracle's final
   return are compared with the oracle's budget. Target: <= 10% of the oracle's samples.
   Source-training samples are not counted.

    python bench/transfer.py cartpole [--seeds 0 1 2] [--oracle-targets heavy hard] \\
        [--source-budget N] [--oracle-budget N] [--out bench_out/transfer] [--reuse]
    python bench/transfer.py hopper --n-envs 16 --seeds 0

Everything lands in ``<out>/<env>/``: run directories per seed, ``results.json`` and
``summary.md`` (the tables for BENCHMARKS.md). ``--reuse`` keeps finished runs of the same
budgets.
"""

from __future__ import annotations

import argparse
import datetime
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
from bench_parser import BenchParser, check_unique, count, output_path, real, run_bench

from sim2real import limits
from sim2real.config import ExperimentConfig, load_config
from sim2real.evaluation.compare import per_run_metrics
from sim2real.evaluation.conditions import Condition
from sim2real.evaluation.training_eval import evaluate_conditions, make_condition_vec_env
from sim2real.io import atomic_write_text, check_output_dir, write_json
from sim2real.policies.normalization import load_normalization
from sim2real.runs import Run
from sim2real.targets import Target, shipped_targets, shipped_targets_named
from sim2real.training import train
from sim2real.transfer import transfer

ENVS = {
    "cartpole": {"dr": "cartpole_dr.yaml", "oracle_targets": ("heavy", "hard")},
    "hopper": {"dr": "hopper_dr_ppo.yaml", "oracle_targets": ("heavy", "hard")},
}
KINDS = ("dr", "nodr")
FRACTION_OF_ORACLE = 0.9
GAP_SEED = 2_000_000  # evaluation episodes seeded away from every training seed


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = check_output_dir(args.out / args.env, "option '--out'")
    started = time.monotonic()
    host = machine()  # the load average before this benchmark adds its own
    torch.set_num_threads(1)  # small MLPs: one thread is fastest next to the envs
    config = source_config(args, "dr", args.seeds[0])
    args.source_budget = args.source_budget or config.total_timesteps
    args.oracle_budget = args.oracle_budget or config.total_timesteps
    targets = {t.name: t for t in shipped_targets(config.env.id)}
    oracle_targets = args.oracle_targets or ENVS[args.env]["oracle_targets"]
    shipped_targets_named(config.env.id, oracle_targets, "option '--oracle-targets'")
    out.mkdir(parents=True, exist_ok=True)
    per_seed = {
        seed: run_seed(args, seed, targets, oracle_targets, out / f"seed{seed}")
        for seed in args.seeds
    }
    results = {
        "env": args.env,
        "command": " ".join(["bench/transfer.py", *(argv if argv is not None else sys.argv[1:])]),
        "machine": host,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "budgets": {
            "source": args.source_budget,
            "oracle": args.oracle_budget,
            "finetune": finetune_budget(args),
            "gap_episodes": args.gap_episodes,
            "eval_episodes": args.eval_episodes,
        },
        "seeds": args.seeds,
        "targets": {name: target.description for name, target in targets.items()},
        "per_seed": per_seed,
        "zero_shot": aggregate_gaps(per_seed),
        "finetune_vs_oracle": aggregate_finetune(per_seed, oracle_targets),
        "wall_s": round(time.monotonic() - started, 1),
    }
    write_json(out / "results.json", results)
    summary = summary_markdown(results)
    atomic_write_text(out / "summary.md", summary)
    print(summary)
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = BenchParser(description=__doc__.split("\n")[0])
    parser.add_argument("env", choices=sorted(ENVS))
    parser.add_argument("--seeds", type=count(limits.SEED, 0), nargs="+", default=[0])
    budget = count(limits.TOTAL_TIMESTEPS)
    parser.add_argument("--source-budget", type=budget, help="default: the config's")
    parser.add_argument("--oracle-budget", type=budget, help="default: the config's")
    parser.add_argument(
        "--finetune-fraction",
        type=real(0.0, 1.0),
        default=0.1,
        help="fine-tuning budget as a fraction of the oracle budget (default 0.1: the target)",
    )
    parser.add_argument(
        "--oracle-targets", nargs="*", help="targets for the oracle part (default: heavy hard)"
    )
    parser.add_argument("--gap-episodes", type=count(limits.EPISODES), default=10)
    parser.add_argument(
        "--eval-episodes", type=count(limits.EPISODES), default=5, help="per learning-curve point"
    )
    parser.add_argument(
        "--finetune-evals",
        type=count(limits.EPISODES),
        default=10,
        help="evaluations over the fine-tuning budget",
    )
    parser.add_argument("--n-envs", type=count(limits.N_ENVS), help="override the config's n_envs")
    parser.add_argument("--out", type=output_path, default=Path("bench_out") / "transfer")
    parser.add_argument("--reuse", action="store_true", help="keep finished runs of same budget")
    args = parser.parse_args(argv)
    check_unique(parser, args.seeds, "--seeds")
    check_unique(parser, args.oracle_targets or [], "--oracle-targets")
    return args


def finetune_budget(args: argparse.Namespace) -> int:
    return max(1, round(args.oracle_budget * args.finetune_fraction))


def source_config(args: argparse.Namespace, kind: str, seed: int) -> ExperimentConfig:
    overrides = [
        f"seed={seed}",
        "evaluation.freq_steps=0",
        "checkpoint.freq_steps=0",
        "device=cpu",
    ]
    if args.source_budget:
        overrides.append(f"total_timesteps={args.source_budget}")
    if args.n_envs is not None:
        overrides.append(f"n_envs={args.n_envs}")
    if kind == "nodr":
        name = ENVS[args.env]["dr"].replace("_dr", "_nodr").removesuffix(".yaml")
        overrides += ["randomization=null", f"name={name}"]
    return load_config(ENVS[args.env]["dr"], overrides)


def run_seed(
    args: argparse.Namespace,
    seed: int,
    targets: dict[str, Target],
    oracle_targets: list[str],
    out: Path,
) -> dict[str, Any]:
    sources = {kind: train_source(args, kind, seed, out) for kind in KINDS}
    gaps = {kind: zero_shot(run, targets, args) for kind, run in sources.items()}
    finetune = {
        name: oracle_and_finetune(args, seed, sources, targets[name], out)
        for name in oracle_targets
    }
    return {"zero_shot": gaps, "finetune_vs_oracle": finetune}


def completed(run: Run) -> Run:
    """``run`` if it trained to its end; a run stopped by Ctrl-C ends the bench, so that no
    table is made from a half-trained policy."""
    status = run.meta["status"]
    if status != "finished":
        log(f"{run.path} stopped ({status}) at {run.meta['timesteps']:,} steps")
        raise SystemExit(
            f"stopped; `sim2real train --resume {run.path}` continues it (then run the bench "
            "again with --reuse)"
        )
    return run


def reusable(path: Path, budget: int, args: argparse.Namespace) -> Run | None:
    if not (args.reuse and (path / "run.json").is_file()):
        return None
    run = Run.open(path)
    meta = run.meta
    finished = meta.get("status") == "finished" and meta.get("total_timesteps") == budget
    return run if finished else None


def train_source(args: argparse.Namespace, kind: str, seed: int, out: Path) -> Run:
    path = out / f"source_{kind}"
    found = reusable(path, args.source_budget, args)
    if found is not None:
        return found
    log(f"seed {seed}: training the {kind} source for {args.source_budget:,} steps")
    config = source_config(args, kind, seed)
    return completed(train(config, path, overwrite=True, progress_bar=False, verbose=False))


def evaluate_run(run: Run, conditions: list[Condition], episodes: int) -> dict[str, float]:
    """Mean return of the run's final policy per condition (its normalization, inference mode)."""
    config = run.config
    envs = {
        c.name: make_condition_vec_env(
            config.env.id,
            config.env.kwargs,
            c,
            episodes,
            config.normalize.observations,
            config.normalize.clip_obs,
            config.env.history_steps,
        )
        for c in conditions
    }
    model_path, normalization_path = run.policy_files()  # a zoo entry holds weights.npz
    normalization = load_normalization(normalization_path) if normalization_path.is_file() else None
    try:
        model = run.load_model(path=model_path)
        returns = evaluate_conditions(model, envs, episodes, True, GAP_SEED, normalization)
    finally:
        for env in envs.values():
            env.close()
    return {name: float(np.mean(values)) for name, values in returns.items()}


def zero_shot(run: Run, targets: dict[str, Target], args: argparse.Namespace) -> dict[str, Any]:
    log(f"zero-shot evaluation of {run.path} on nominal + {len(targets)} targets")
    conditions = [Condition("nominal", "nominal")]
    conditions += [Condition(t.name, t.description, target=t) for t in targets.values()]
    means = evaluate_run(run, conditions, args.gap_episodes)
    gaps = {name: means["nominal"] - value for name, value in means.items() if name != "nominal"}
    return {"returns": means, "gaps": gaps, "mean_gap": float(np.mean(list(gaps.values())))}


def oracle_and_finetune(
    args: argparse.Namespace, seed: int, sources: dict[str, Run], target: Target, out: Path
) -> dict[str, Any]:
    oracle_path = out / f"oracle_{target.name}"
    oracle = reusable(oracle_path, args.oracle_budget, args)
    if oracle is None:
        log(f"seed {seed}: training the oracle on {target.name} for {args.oracle_budget:,} steps")
        oracle = completed(
            transfer(
                sources["dr"],
                target,
                args.oracle_budget,
                "scratch",
                seed=seed,
                run_dir=oracle_path,
                overwrite=True,
                eval_episodes=args.eval_episodes,
                progress_bar=False,
                verbose=False,
            )
        )
    condition = Condition(target.name, target.description, target=target)
    j_oracle = evaluate_run(oracle, [condition], args.gap_episodes)[target.name]
    threshold = FRACTION_OF_ORACLE * j_oracle
    budget = finetune_budget(args)
    result: dict[str, Any] = {
        "oracle_return": j_oracle,
        "oracle_curve": oracle.evaluations()["curves"][target.name],
        "oracle_curve_steps": oracle.evaluations()["timesteps"],
        "threshold": threshold,
    }
    for kind, source in sources.items():
        path = out / f"finetune_{kind}_{target.name}"
        run = reusable(path, budget, args)
        if run is None:
            log(f"seed {seed}: fine-tuning the {kind} policy on {target.name} for {budget:,} steps")
            run = completed(
                transfer(
                    source,
                    target,
                    budget,
                    "full",
                    seed=seed,
                    run_dir=path,
                    overwrite=True,
                    eval_freq=max(1, budget // args.finetune_evals),
                    eval_episodes=args.eval_episodes,
                    progress_bar=False,
                    verbose=False,
                )
            )
        result[kind] = finetune_result(run, target, threshold, args.oracle_budget)
    return result


def finetune_result(run: Run, target: Target, threshold: float, oracle_budget: int) -> dict:
    history = run.evaluations()
    steps = np.asarray(history["timesteps"], dtype=float)
    curve = np.asarray(history["curves"][target.name], dtype=float)
    reached = per_run_metrics(curve[None, :], steps, threshold)[0]["time_to_threshold"]
    return {
        "curve": curve.tolist(),
        "steps": steps.tolist(),
        "zero_shot": float(curve[0]),
        "final": float(curve[-1]),
        "trained_steps": int(steps[-1]),  # PPO ends its last rollout past the budget
        "steps_to_90pct_oracle": None if math.isnan(reached) else int(reached),
        "fraction_of_oracle_budget": None if math.isnan(reached) else reached / oracle_budget,
    }


def aggregate_gaps(per_seed: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """Per policy kind: returns and gaps averaged over seeds, and the verdict on the means."""
    summary: dict[str, Any] = {}
    for kind in KINDS:
        runs = [seed_result["zero_shot"][kind] for seed_result in per_seed.values()]
        summary[kind] = {
            "returns": {
                n: float(np.mean([r["returns"][n] for r in runs])) for n in runs[0]["returns"]
            },
            "gaps": {n: float(np.mean([r["gaps"][n] for r in runs])) for n in runs[0]["gaps"]},
            "mean_gap": float(np.mean([r["mean_gap"] for r in runs])),
            "mean_gap_per_seed": [r["mean_gap"] for r in runs],
        }
    dr, nodr = summary["dr"]["mean_gap"], summary["nodr"]["mean_gap"]
    ratio = dr / nodr if nodr > 0 else math.nan
    summary["verdict"] = {"ratio": ratio, "met": bool(ratio <= 0.5)}
    return summary


def aggregate_finetune(per_seed: dict[int, dict[str, Any]], targets: list[str]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for name in targets:
        parts = [seed_result["finetune_vs_oracle"][name] for seed_result in per_seed.values()]
        fractions = [p["dr"]["fraction_of_oracle_budget"] for p in parts]
        summary[name] = {
            "oracle_return_per_seed": [p["oracle_return"] for p in parts],
            "met_per_seed": [f is not None and f <= 0.1 for f in fractions],
            "met": all(f is not None and f <= 0.1 for f in fractions),
        }
    return summary


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
    env, seeds = results["env"], results["seeds"]
    zero = results["zero_shot"]
    dr, nodr = zero["dr"], zero["nodr"]
    lines = [
        f"#### {env}: zero-shot gap J_nominal - J_target "
        f"({results['budgets']['gap_episodes']} episodes per condition, mean of seeds {seeds})",
        "",
        "| target | DR return | DR gap | no-DR return | no-DR gap |",
        "|---|---|---|---|---|",
        f"| nominal | {dr['returns']['nominal']:.1f} | - | {nodr['returns']['nominal']:.1f} | - |",
    ]
    for name in dr["gaps"]:
        lines.append(
            f"| {name} | {dr['returns'][name]:.1f} | {dr['gaps'][name]:.1f} | "
            f"{nodr['returns'][name]:.1f} | {nodr['gaps'][name]:.1f} |"
        )
    per_seed = " / ".join(
        f"{a:.1f} vs {b:.1f}"
        for a, b in zip(dr["mean_gap_per_seed"], nodr["mean_gap_per_seed"], strict=True)
    )
    verdict = zero["verdict"]
    lines += [
        f"| **mean over targets** | | **{dr['mean_gap']:.1f}** | | **{nodr['mean_gap']:.1f}** |",
        "",
        f"DR / no-DR mean gap = {verdict['ratio']:.2f} (target <= 0.5: "
        f"{'met' if verdict['met'] else 'NOT met'}); per seed (DR vs no DR): {per_seed}.",
        "",
        f"#### {env}: fine-tuning to 90% of an oracle (target samples only)",
        "",
        "| target | seed | oracle return | 90% | policy | zero-shot | after fine-tuning "
        "| steps to 90% | % of oracle budget |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    oracle_budget = results["budgets"]["oracle"]
    for seed, seed_result in results["per_seed"].items():
        for name, part in seed_result["finetune_vs_oracle"].items():
            for kind in KINDS:
                lines.append(_finetune_row(name, seed, part, kind, oracle_budget))
    info = results["machine"]
    lines += [
        "",
        f"Oracle budget {oracle_budget:,} steps, fine-tuning budget "
        f"{results['budgets']['finetune']:,}, source budget {results['budgets']['source']:,}. "
        f"Wall time {results['wall_s']:.0f} s on {info['cpus']} CPUs ({info['processor']}, "
        f"load {info['load_average_1m']:.1f} at the start), torch {info['torch']}, "
        f"SB3 {info['stable-baselines3']}; {results['date']}.",
        "",
    ]
    return "\n".join(lines)


def _finetune_row(name: str, seed: Any, part: dict, kind: str, oracle_budget: int) -> str:
    row = part[kind]
    steps, fraction = row["steps_to_90pct_oracle"], row["fraction_of_oracle_budget"]
    trained = row["trained_steps"]
    needed = f"> {trained:,}" if steps is None else f"{steps:,}"
    share = (
        f"> {100 * trained / oracle_budget:.1f}%" if fraction is None else f"{100 * fraction:.1f}%"
    )
    return (
        f"| {name} | {seed} | {part['oracle_return']:.1f} | {part['threshold']:.1f} | "
        f"{'DR' if kind == 'dr' else 'no DR'} | {row['zero_shot']:.1f} | {row['final']:.1f} | "
        f"{needed} | {share} |"
    )


def log(message: str) -> None:
    print(f"[{datetime.datetime.now():%H:%M:%S}] {message}", flush=True)


if __name__ == "__main__":
    run_bench(main)
