"""Adaptation benchmark: DR-only vs history-DR vs the RMA student, at the same simulation budget.

For one robot, with its shipped adaptation config (``<robot>_rma``), per seed:

1. **RMA**: ``sim2real train`` of the config: the teacher for ``budget - student steps``, then
   the student for ``student steps`` (``--student-fraction`` of the budget; default the
   config's own split);
2. **DR-only**: the same config without ``adaptation:`` for the whole budget;
3. **history-DR**: the same PPO for the whole budget on DR envs whose observation is the last
   ``k`` observations and actions (:class:`sim2real.envs.wrappers.History`, k = the student's);
4. an **oracle** per target: trained on the target from scratch (``--oracle-budget`` steps).

Every policy is evaluated zero-shot on every target (``--episodes`` deterministic episodes,
fixed seeds); per method and target the table gives the mean return over seeds with a 95%
bootstrap CI over seeds, and the fraction of the DR-only policy's gap to the oracle that the
method closes, ``(J(method) - J(DR)) / (J(oracle) - J(DR))`` (per seed, then averaged; CI over
seeds). The privileged teacher is listed too, as what the student imitates. Target of the
issue: the RMA student closes at least half of the gap.

    python bench/adaptation.py hopper --seeds 0 1 2              # the real result (hours)
    python bench/adaptation.py cartpole --seeds 0 1 --budget 1200 --oracle-budget 512 \\
        --episodes 2 --targets heavy hard --n-envs 2             # a smoke run (a minute)

Everything lands in ``<out>/<robot>/``: run directories per seed, ``results.json`` and
``summary.md`` (the table for BENCHMARKS.md). ``--reuse`` keeps finished runs.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

from sim2real.config import ExperimentConfig, config_to_dict, load_config, parse_config, sb3_kwargs
from sim2real.envs.wrappers import History
from sim2real.evaluation.bootstrap import bootstrap
from sim2real.evaluation.conditions import make_env, target_condition
from sim2real.evaluation.rollouts import rollout
from sim2real.hyperparams import algorithm_class, hyperparam
from sim2real.policies.history import HistoryInput
from sim2real.policies.normalization import load_normalization, save_normalization
from sim2real.policies.predictor import RunPolicy, load_predictor
from sim2real.runs import Run
from sim2real.targets import Target, shipped_targets
from sim2real.training import train
from sim2real.transfer import transfer
from sim2real.transfer.rma.layout import TEACHER_DIR

ROBOTS = {"cartpole": "cartpole_rma.yaml", "hopper": "hopper_rma_ppo.yaml"}
METHODS = ("dr", "history_dr", "rma_student", "rma_teacher")
LABELS = {
    "dr": "DR-only",
    "history_dr": "history-DR",
    "rma_student": "RMA student",
    "rma_teacher": "RMA teacher (privileged)",
}
EVAL_SEED = 3_000_000  # evaluation episodes seeded away from every training seed


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = args.out / args.robot
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    torch.set_num_threads(1)
    base = load_config(ROBOTS[args.robot], [f"n_envs={args.n_envs}"] if args.n_envs else [])
    assert base.adaptation is not None
    args.budget = args.budget or base.total_timesteps + base.adaptation.timesteps
    fraction = args.student_fraction
    if fraction is None:
        fraction = base.adaptation.timesteps / (base.total_timesteps + base.adaptation.timesteps)
    args.student_steps = max(1, round(args.budget * fraction))
    args.oracle_budget = args.oracle_budget or base.total_timesteps
    targets = [
        t for t in shipped_targets(base.env.id) if not args.targets or t.name in args.targets
    ]
    returns: dict[str, dict[str, dict[int, float]]] = {}
    for seed in args.seeds:
        folder = out / f"seed{seed}"
        policies = train_methods(args, base, seed, folder)
        for target in targets:
            oracle = train_oracle(args, policies["dr_run"], target, seed, folder)
            for method, (predictor, env_kwargs) in {
                **policies["predictors"],
                "oracle": oracle,
            }.items():
                value = evaluate(predictor, base.env.id, env_kwargs, target, args.episodes)
                returns.setdefault(method, {}).setdefault(target.name, {})[seed] = value
                log(f"seed {seed}: {method} on {target.name}: {value:.1f}")
    results = {
        "robot": args.robot,
        "config": ROBOTS[args.robot],
        "seeds": args.seeds,
        "budget": args.budget,
        "student_steps": args.student_steps,
        "oracle_budget": args.oracle_budget,
        "episodes": args.episodes,
        "returns": returns,
        "table": table(returns, [t.name for t in targets], args.seeds),
        "machine": machine(),
        "minutes": (time.monotonic() - started) / 60,
        "date": datetime.date.today().isoformat(),
    }
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    summary = summary_markdown(results)
    (out / "summary.md").write_text(summary)
    print(summary)
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("robot", choices=sorted(ROBOTS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--budget", type=int, help="simulation steps per method (default: config)")
    parser.add_argument("--student-fraction", type=float, help="of the budget, for phase 2")
    parser.add_argument("--oracle-budget", type=int, help="default: the config's total_timesteps")
    parser.add_argument("--episodes", type=int, default=10, help="per target and seed")
    parser.add_argument("--targets", nargs="+", help="target names (default: every shipped one)")
    parser.add_argument("--n-envs", type=int, help="override the config's n_envs")
    parser.add_argument("--out", type=Path, default=Path("bench_out/adaptation"))
    parser.add_argument("--reuse", action="store_true", help="keep finished runs")
    return parser.parse_args(argv)


def train_methods(
    args: argparse.Namespace, base: ExperimentConfig, seed: int, folder: Path
) -> dict[str, Any]:
    """The three methods' policies (and the teacher) of one seed, trained or reused."""
    data = config_to_dict(base)
    data["seed"] = seed
    rma = parse_config(
        {
            **data,
            "total_timesteps": args.budget - args.student_steps,
            "adaptation": {**data["adaptation"], "timesteps": args.student_steps},
        },
        source=ROBOTS[args.robot],
    )
    dr_data = {key: value for key, value in data.items() if key != "adaptation"}
    dr = parse_config(
        {**dr_data, "name": f"{args.robot}_dr", "total_timesteps": args.budget},
        source=ROBOTS[args.robot],
    )
    rma_run = train_or_reuse(args, rma, folder / "rma")
    dr_run = train_or_reuse(args, dr, folder / "dr")
    history = train_history(args, dr, base.adaptation.history_steps, folder / "history_dr")
    teacher_kwargs = Run.open(rma_run.path / TEACHER_DIR).config.env.kwargs
    return {
        "dr_run": dr_run,
        "predictors": {
            "dr": (load_predictor(dr_run.path), dr.env.kwargs),
            "history_dr": (history, dr.env.kwargs),
            "rma_student": (load_predictor(rma_run.path), rma.env.kwargs),
            "rma_teacher": (load_predictor(rma_run.path / TEACHER_DIR), teacher_kwargs),
        },
    }


def train_or_reuse(args: argparse.Namespace, config: ExperimentConfig, path: Path) -> Run:
    if args.reuse and (path / "run.json").is_file() and Run.open(path).meta["status"] == "finished":
        return Run.open(path)
    log(f"training {config.name} (seed {config.seed}) -> {path}")
    return train(config, path, overwrite=True, progress_bar=False, verbose=False)


def train_history(
    args: argparse.Namespace, config: ExperimentConfig, steps: int, path: Path
) -> HistoryInput:
    """PPO (the config's hyperparameters and budget) on DR envs with a k-step history; it acts
    on plain observations through HistoryInput, which builds the wrapper's vector."""
    model_path, statistics = path / "model.zip", path / "normalization.npz"
    cls = algorithm_class(config.algorithm.name)
    if not (args.reuse and model_path.is_file()):
        log(f"training history-DR (k = {steps}, seed {config.seed}) -> {path}")

        def factory() -> gym.Env:
            env = gym.make(config.env.id, randomization=config.randomization, **config.env.kwargs)
            return Monitor(History(env, steps))

        venv: Any = DummyVecEnv([factory] * config.n_envs)
        if config.normalize.observations or config.normalize.rewards:
            gamma = float(hyperparam(config.algorithm.name, config.algorithm.hyperparams, "gamma"))
            venv = VecNormalize(
                venv,
                norm_obs=config.normalize.observations,
                norm_reward=config.normalize.rewards,
                clip_obs=config.normalize.clip_obs,
                gamma=gamma,
            )
        model = cls(
            config.algorithm.policy,
            venv,
            seed=config.seed,
            device="cpu",
            **sb3_kwargs(config.algorithm),
        )
        model.learn(config.total_timesteps)
        path.mkdir(parents=True, exist_ok=True)
        model.save(model_path)
        if isinstance(venv, VecNormalize):
            save_normalization(venv, statistics)
        venv.close()
    model = cls.load(model_path, device="cpu")
    normalization = load_normalization(statistics) if statistics.is_file() else None
    inner = RunPolicy(model, normalization, source=str(model_path))
    size = model.observation_space.shape[0] // steps - int(np.prod(model.action_space.shape))
    return HistoryInput(inner, steps, size, model.action_space, str(model_path))


def train_oracle(
    args: argparse.Namespace, dr_run: Run, target: Target, seed: int, folder: Path
) -> tuple[Any, dict[str, Any]]:
    path = folder / f"oracle_{target.name}"
    if not (
        args.reuse and (path / "run.json").is_file() and Run.open(path).meta["status"] == "finished"
    ):
        log(f"seed {seed}: training the oracle on {target.name} for {args.oracle_budget:,} steps")
        transfer(
            dr_run,
            target,
            args.oracle_budget,
            "scratch",
            seed=seed,
            run_dir=path,
            overwrite=True,
            progress_bar=False,
            verbose=False,
        )
    run = Run.open(path)
    return load_predictor(path), dict(run.config.env.kwargs)


def evaluate(
    predictor: Any, env_id: str, env_kwargs: dict[str, Any], target: Target, episodes: int
) -> float:
    env = make_env(env_id, target_condition(target), env_kwargs)
    try:
        return float(np.mean(rollout(predictor, env, EVAL_SEED, episodes).returns))
    finally:
        env.close()


def table(
    returns: dict[str, dict[str, dict[int, float]]], targets: list[str], seeds: list[int]
) -> dict[str, dict[str, Any]]:
    """Per method and target: mean over seeds with a CI, and the fraction of the gap closed."""
    rng = np.random.default_rng(0)
    rows: dict[str, dict[str, Any]] = {}
    for method in (*METHODS, "oracle"):
        for target in targets:
            values = np.array([returns[method][target][seed] for seed in seeds])
            estimate = bootstrap([[values]], np.mean, rng, n_boot=2000)
            row = {"mean": estimate.value, "ci": [estimate.ci_low, estimate.ci_high]}
            if method not in ("dr", "oracle"):
                dr = np.array([returns["dr"][target][seed] for seed in seeds])
                oracle = np.array([returns["oracle"][target][seed] for seed in seeds])
                gap = oracle - dr
                if np.all(np.abs(gap) > 1e-9):  # undefined where DR already matches the oracle
                    fraction = bootstrap([[(values - dr) / gap]], np.mean, rng, n_boot=2000)
                    row["gap_closed"] = {
                        "mean": fraction.value,
                        "ci": [fraction.ci_low, fraction.ci_high],
                    }
            rows.setdefault(method, {})[target] = row
    return rows


def summary_markdown(results: dict[str, Any]) -> str:
    seeds = results["seeds"]
    lines = [
        f"### {results['robot']}: zero-shot return per target ({len(seeds)} seeds: "
        f"{', '.join(map(str, seeds))}; {results['episodes']} episodes per target and seed)",
        "",
        f"Budget per method {results['budget']:,} simulation steps (RMA: teacher "
        f"{results['budget'] - results['student_steps']:,} + student "
        f"{results['student_steps']:,}); "
        f"oracles {results['oracle_budget']:,} steps on the target. Mean over seeds [95% "
        "bootstrap CI over seeds]; gap closed = (J - J_DR) / (J_oracle - J_DR).",
        "",
    ]
    targets = list(next(iter(results["table"].values())))
    lines.append("| method | " + " | ".join(targets) + " |")
    lines.append("|---" * (len(targets) + 1) + "|")
    for method in (*METHODS, "oracle"):
        cells = []
        for target in targets:
            row = results["table"][method][target]
            cell = f"{row['mean']:.1f} [{row['ci'][0]:.1f}, {row['ci'][1]:.1f}]"
            if "gap_closed" in row:
                closed = row["gap_closed"]
                cell += (
                    f"; closed {closed['mean']:.2f} [{closed['ci'][0]:.2f}, {closed['ci'][1]:.2f}]"
                )
            cells.append(cell)
        lines.append(f"| {LABELS.get(method, method)} | " + " | ".join(cells) + " |")
    machine_info = results["machine"]
    lines += [
        "",
        f"Machine: {machine_info['cpus']} CPUs ({machine_info['processor']}), "
        f"{results['minutes']:.0f} min, {results['date']}.",
        "",
    ]
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    return {
        "processor": platform.processor() or platform.machine(),
        "cpus": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
    }


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
