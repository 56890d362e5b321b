"""Learned actuator benchmark on the Hopper's DC-motor target (targets/hopper_dc_motor.yaml).

1. **Torque error** (cheap): records ``--episodes`` episodes of a random policy on the target
   (with the torque each joint received), fits the actuator network (``sim2real fit-actuator``
   with ``--history`` and ``--epochs``) and measures its RMS torque error, as % of each joint's
   torque range, on the episodes the fit held out *and* on ``--test-episodes`` episodes of a
   different policy (``sine``) recorded separately. Target (issue 11): below 10%. For contrast,
   the error of the best ideal actuator (torque = gain x command, least-squares gains).
2. **Policies** (``--policy-budget`` > 0; long at real budgets): trains one policy with the ideal
   actuator and one with ``actuator: {learned: ACT_DIR}`` from ``--config`` (same algorithm,
   budget and seed), evaluates each on its own training world and on the DC-motor target;
   gap = J(own world) - J(target). Target: the learned-actuator policy has the smaller gap.

    python bench/actuator.py [--episodes 100] [--test-episodes 20] [--history 3] \\
        [--epochs 300] [--policy-budget 0] [--config hopper_nominal_ppo.yaml] [--n-envs N] \\
        [--out bench_out/actuator]

Writes ``<out>/results.json`` and ``<out>/summary.md`` (the tables for BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import datetime
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_parser import BenchParser, count, output_path, run_bench  # noqa: E402
from transfer import completed, evaluate_run, log, machine  # noqa: E402  bench/transfer.py

from sim2real import limits  # noqa: E402
from sim2real.actuator_fit import (  # noqa: E402
    EPOCHS,
    HISTORY,
    FitSettings,
    actuator_dataset,
    fit_actuator,
    write_fit,
)
from sim2real.config import load_config  # noqa: E402
from sim2real.data import save_data  # noqa: E402
from sim2real.envs.motors import ActuatorNetwork  # noqa: E402
from sim2real.evaluation.conditions import Condition, make_env, target_condition  # noqa: E402
from sim2real.io import atomic_write_text, check_output_dir, write_json  # noqa: E402
from sim2real.record import record  # noqa: E402
from sim2real.resources import resolve_file  # noqa: E402
from sim2real.targets import load_target  # noqa: E402
from sim2real.training import train  # noqa: E402

TARGET = "hopper_dc_motor.yaml"
TORQUE_ERROR_TARGET = 10.0  # % of the torque range


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    check_output_dir(args.out, "option '--out'")
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    host = machine()
    target = load_target(resolve_file(TARGET, "target"))
    results: dict[str, Any] = {
        "command": " ".join(["bench/actuator.py", *(argv if argv is not None else sys.argv[1:])]),
        "machine": host,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "target": target.description,
        "torque_error": torque_error(args, target),
    }
    if args.policy_budget:
        results["policies"] = policies(args, target)
    results["wall_s"] = round(time.perf_counter() - started, 1)
    write_json(args.out / "results.json", results)
    summary = summary_markdown(results)
    atomic_write_text(args.out / "summary.md", summary)
    print(summary)
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = BenchParser(description=__doc__.split("\n")[0])
    episodes, steps = count(limits.EPISODES), count(limits.TOTAL_TIMESTEPS, 0)
    parser.add_argument(
        "--episodes", type=episodes, default=100, help="random-policy episodes to fit"
    )
    parser.add_argument(
        "--test-episodes", type=episodes, default=20, help="sine episodes, held out"
    )
    parser.add_argument("--history", type=count(HISTORY), default=3)
    parser.add_argument("--epochs", type=count(EPOCHS), default=300)
    parser.add_argument("--policy-budget", type=steps, default=0, help="0: skip the policies")
    parser.add_argument("--config", default="hopper_nominal_ppo.yaml")
    parser.add_argument("--n-envs", type=count(limits.N_ENVS), help="override the config's n_envs")
    parser.add_argument("--eval-episodes", type=episodes, default=10)
    parser.add_argument("--seed", type=count(limits.SEED, 0), default=0)
    parser.add_argument("--out", type=output_path, default=Path("bench_out") / "actuator")
    return parser.parse_args(argv)


def torque_error(args: argparse.Namespace, target: Any) -> dict[str, Any]:
    train_path = recorded(target, "random", args.episodes, args.seed, args.out / "fit.npz")
    test_path = recorded(target, "sine", args.test_episodes, args.seed + 1, args.out / "test.npz")
    settings = FitSettings(history=args.history, epochs=args.epochs, seed=args.seed)
    log(f"fitting the actuator network ({args.epochs} epochs, history {args.history})")
    fit = fit_actuator(train_path, settings)
    act_dir = args.out / "act"
    shutil.rmtree(act_dir, ignore_errors=True)
    write_fit(fit, act_dir)
    report = fit.report
    network = ActuatorNetwork(act_dir)
    from sim2real.data import load_data

    test = actuator_dataset(load_data(test_path), args.history)
    torque_range = np.array(report["torque_range"])
    test_rmse = np.sqrt(np.mean((network(test.features) - test.torques) ** 2, axis=0))
    test_percent = (100 * test_rmse / torque_range).tolist()
    return {
        "act_dir": str(act_dir),
        "fit_steps": report["steps"],
        "test_steps": len(test.torques),
        "joints": report["joints"],
        "torque_range": report["torque_range"],
        "validation_percent": report["rmse_percent_of_range"]["network"]["validation"],
        "test_percent": test_percent,
        "ideal_validation_percent": report["rmse_percent_of_range"]["ideal"]["validation"],
        "fit_wall_s": report["wall_s"],
        "met": max(max(test_percent), *report["rmse_percent_of_range"]["network"]["validation"])
        < TORQUE_ERROR_TARGET,
    }


def recorded(target: Any, policy: str, episodes: int, seed: int, path: Path) -> Path:
    env = make_env(target.env_id, target_condition(target))
    try:
        data = record(env, policy, episodes, seed=seed)
    finally:
        env.close()
    log(f"recorded {data.episodes} {policy} episodes, {data.steps} steps -> {path}")
    return save_data(path, data)


def policies(args: argparse.Namespace, target: Any) -> dict[str, Any]:
    act_dir = (args.out / "act").resolve()
    result = {}
    for kind in ("ideal", "learned"):
        overrides = [
            f"seed={args.seed}",
            f"total_timesteps={args.policy_budget}",
            "evaluation.freq_steps=0",
            "checkpoint.freq_steps=0",
        ]
        if args.n_envs is not None:
            overrides.append(f"n_envs={args.n_envs}")
        if kind == "learned":
            overrides.append(f"env.kwargs.actuator={{learned: {act_dir}}}")
        config = load_config(args.config, overrides)
        log(f"training the {kind}-actuator policy for {args.policy_budget:,} steps")
        run = completed(
            train(
                config,
                args.out / f"policy_{kind}",
                overwrite=True,
                progress_bar=False,
                verbose=False,
            )
        )
        conditions = [
            Condition("own", "its training world"),
            Condition(target.name, target.description, target=target),
        ]
        returns = evaluate_run(run, conditions, args.eval_episodes)
        result[kind] = {
            "own_world": returns["own"],
            "target": returns[target.name],
            "gap": returns["own"] - returns[target.name],
        }
    result["met"] = abs(result["learned"]["gap"]) < abs(result["ideal"]["gap"])
    return result


def summary_markdown(results: dict[str, Any]) -> str:
    torque = results["torque_error"]
    lines = [
        f"`{results['command']}` — {results['date'][:10]}, {results['wall_s']:.0f} s",
        "",
        f"Actuator network fitted on {torque['fit_steps']['train']} steps (random policy); "
        f"errors are RMS torque errors as % of each joint's torque range, on "
        f"{torque['fit_steps']['validation']} held-out steps of the fit's own episodes and on "
        f"{torque['test_steps']} steps of separately recorded sine episodes:",
        "",
        "| joint | torque range (N*m) | held out (fit episodes) | held out (sine) | "
        "ideal actuator (held out) |",
        "|---|---|---|---|---|",
    ]
    for i, joint in enumerate(torque["joints"]):
        lines.append(
            f"| {joint} | {torque['torque_range'][i]:.1f} | "
            f"{torque['validation_percent'][i]:.2f}% | {torque['test_percent'][i]:.2f}% | "
            f"{torque['ideal_validation_percent'][i]:.2f}% |"
        )
    lines += ["", f"Below {TORQUE_ERROR_TARGET:g}% everywhere: {'yes' if torque['met'] else 'no'}."]
    if "policies" in results:
        p = results["policies"]
        lines += [
            "",
            "| policy | J own world | J dc_motor target | gap |",
            "|---|---|---|---|",
        ]
        for kind in ("ideal", "learned"):
            r = p[kind]
            lines.append(
                f"| {kind} actuator | {r['own_world']:.1f} | {r['target']:.1f} | {r['gap']:.1f} |"
            )
        lines += [
            "",
            f"Learned-actuator policy has the smaller gap: {'yes' if p['met'] else 'no'}.",
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    run_bench(main)
