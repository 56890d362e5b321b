"""Training speed: SB3 PPO steps/s on sim2real/Hopper-v0 vs the peer, and time to solve CartPole.

    python bench/train_speed.py [--ppo-steps 4096] [--repeats 5] [--seeds 0 1 2] [--json out.json]

1. **PPO steps/s, Hopper.** SB3 ``PPO("MlpPolicy")`` learns on ``sim2real/Hopper-v0`` (no
   randomization) and on pybullet-envs-gymnasium's ``HopperBulletEnv-v0`` with the same
   settings, CPU, one torch thread (as ``sim2real train`` runs it), in two settings:
   ``sb3_default`` (SB3's defaults: n_steps 2048, batch 64, 10 epochs, one env in a
   ``DummyVecEnv``; ``--ppo-steps`` timesteps) and ``zoo_hopper`` (the RL Zoo's tuned Hopper PPO
   from configs/hopper_dr_ppo.yaml: 16 envs, VecNormalize, n_steps 512, 20 epochs, gSDE,
   256x256; ``--zoo-steps`` timesteps, one rollout and its update). Rates include
   rollouts, resets and the gradient updates. Each repeat builds a fresh model with the same
   seed for both envs; the two envs alternate (interleaved repeats), so a slow moment of a
   shared machine hits both alike. Medians of wall-clock and process-CPU-time rates, and the
   median of the per-repeat ratios, are reported (target: ours >= 1.5x the peer); so is the
   rate inside rollout collection alone (env steps + policy inference, updates excluded),
   which shows how much of the env's speed survives the shared cost of the updates.
2. **CartPole to 95%.** ``configs/cartpole_dr.yaml`` as shipped (PPO, 8 envs, DR), built with
   the same functions ``sim2real train`` uses, evaluated every ``--eval-every`` timesteps on
   nominal dynamics (5 deterministic episodes, the config's evaluation settings). Reported: the
   timesteps and wall time (from the start of ``learn``) at the first evaluation whose mean
   return is >= 475 (95% of the maximum 500), with the time spent in evaluations before it
   subtracted as well (target: <= 60 s on 2 cores). Training stops there.
"""

from __future__ import annotations

import datetime
import os
import platform
import statistics
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pybullet_envs_gymnasium  # noqa: F401  (registers HopperBulletEnv-v0)
import torch
from bench_parser import REPEATS, BenchParser, check_unique, count, output_path, run_bench
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

import sim2real  # noqa: F401  (registers sim2real/Hopper-v0)
from sim2real import limits
from sim2real.callbacks import EvaluationCallback
from sim2real.config import load_config, sb3_kwargs
from sim2real.envs.quiet import quiet_c_stdout
from sim2real.evaluation.conditions import evaluation_conditions
from sim2real.evaluation.training_eval import make_condition_vec_env
from sim2real.io import check_output_file, write_json
from sim2real.training import build_model, make_training_env

OURS, PEER = "sim2real/Hopper-v0", "HopperBulletEnv-v0"
THRESHOLD = 0.95 * 500


class RolloutClock(BaseCallback):
    """Wall time spent collecting rollouts (env steps + policy inference), updates excluded."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds, self._began = 0.0, 0.0

    def _on_rollout_start(self) -> None:
        self._began = time.perf_counter()

    def _on_rollout_end(self) -> None:
        self.seconds += time.perf_counter() - self._began

    def _on_step(self) -> bool:
        return True


def make_env(env_id: str) -> gym.Env:
    with quiet_c_stdout():  # the peer prints "argv[0]=" from C when it connects, at reset
        env = Monitor(gym.make(env_id))
        env.reset(seed=0)
    return env


def ppo_model(env_id: str, setting: str, seed: int) -> PPO:
    """PPO on ``env_id`` with SB3's defaults (1 env) or the Zoo's tuned Hopper PPO (16 envs)."""
    if setting == "sb3_default":
        venv = DummyVecEnv([lambda: make_env(env_id)])
        return PPO("MlpPolicy", venv, seed=seed, device="cpu", verbose=0)
    zoo = load_config("hopper_dr_ppo.yaml")  # the Zoo's hyperparameters; its DR is not used
    venv = VecNormalize(DummyVecEnv([lambda: make_env(env_id)] * zoo.n_envs))
    return PPO("MlpPolicy", venv, seed=seed, device="cpu", verbose=0, **sb3_kwargs(zoo.algorithm))


def ppo_rates(env_id: str, setting: str, steps: int, seed: int) -> tuple[float, float, float]:
    """Timesteps/s of PPO learning ``steps`` on ``env_id``: wall, process CPU, rollouts only."""
    model = ppo_model(env_id, setting, seed)
    clock = RolloutClock()
    wall, cpu = time.perf_counter(), time.process_time()
    model.learn(total_timesteps=steps, callback=clock)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    model.env.close()
    n = model.num_timesteps
    return n / wall, n / cpu, n / clock.seconds


def bench_hopper(setting: str, steps: int, repeats: int) -> dict[str, Any]:
    rates: dict[str, list[tuple[float, float, float]]] = {OURS: [], PEER: []}
    for repeat in range(repeats):
        for env_id in (OURS, PEER) if repeat % 2 == 0 else (PEER, OURS):
            rates[env_id].append(ppo_rates(env_id, setting, steps, seed=repeat))
            print(f"  repeat {repeat}: {env_id:22s} {rates[env_id][-1][0]:7.1f} steps/s (wall)")
    pairs = list(zip(rates[OURS], rates[PEER], strict=True))
    return {
        "setting": setting,
        "steps_per_measurement": steps,
        "repeats": repeats,
        "rates": {
            env_id: {
                "wall_median": statistics.median(r[0] for r in values),
                "cpu_median": statistics.median(r[1] for r in values),
                "rollout_median": statistics.median(r[2] for r in values),
                "wall": [r[0] for r in values],
                "cpu": [r[1] for r in values],
                "rollout": [r[2] for r in values],
            }
            for env_id, values in rates.items()
        },
        "ratio_wall_median": statistics.median(o[0] / p[0] for o, p in pairs),
        "ratio_cpu_median": statistics.median(o[1] / p[1] for o, p in pairs),
        "ratio_rollout_median": statistics.median(o[2] / p[2] for o, p in pairs),
    }


class TimedEvaluation(EvaluationCallback):
    """Evaluates on a timestep grid, timestamps each evaluation, stops at the threshold."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.start = 0.0
        self.eval_seconds = 0.0
        self.points: list[dict[str, Any]] = []

    def _on_training_start(self) -> None:
        super()._on_training_start()
        self.start = time.perf_counter()

    def evaluate(self) -> dict[str, np.ndarray]:
        began = time.perf_counter()
        results = super().evaluate()
        point = {
            "timesteps": int(self.model.num_timesteps),
            "wall_s": began - self.start,
            "train_s": began - self.start - self.eval_seconds,
            **{name: float(np.mean(r)) for name, r in results.items()},
        }
        self.eval_seconds += time.perf_counter() - began
        self.points.append(point)
        print(
            f"  {point['timesteps']:>7,} steps {point['wall_s']:6.1f} s: "
            + ", ".join(f"{n} {point[n]:.1f}" for n in results)
        )
        return results

    def _on_step(self) -> bool:
        super()._on_step()
        return not (self.points and self.points[-1]["nominal"] >= THRESHOLD)


def bench_cartpole(seed: int, eval_every: int) -> dict[str, Any]:
    config = load_config("cartpole_dr.yaml", [f"seed={seed}"])
    conditions = [c for c in evaluation_conditions(config) if c.name in ("nominal", "dr")]
    envs = {
        c.name: make_condition_vec_env(
            config.env.id,
            config.env.kwargs,
            c,
            config.evaluation.episodes,
            config.normalize.observations,
            config.normalize.clip_obs,
            config.env.history_steps,
        )
        for c in conditions
    }
    venv = make_training_env(config)
    model = build_model(config, venv, "cpu", "cartpole_dr.yaml")
    with tempfile.TemporaryDirectory() as folder:
        callback = TimedEvaluation(
            envs,
            episodes=config.evaluation.episodes,
            deterministic=config.evaluation.deterministic,
            seed=seed + 1_000_000,
            evaluations_path=Path(folder) / "evaluations.json",
            freq_steps=eval_every,
        )
        model.learn(total_timesteps=config.total_timesteps, callback=callback)
    venv.close()
    for env in envs.values():
        env.close()
    reached = next((p for p in callback.points if p["nominal"] >= THRESHOLD), None)
    return {
        "seed": seed,
        "total_timesteps_budget": config.total_timesteps,
        "reached": reached,
        "curve": callback.points,
    }


def machine() -> dict[str, Any]:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "load_average_at_start": os.getloadavg(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "stable_baselines3": metadata.version("stable-baselines3"),
        "pybullet_envs_gymnasium": metadata.version("pybullet-envs-gymnasium"),
    }


def main() -> None:
    parser = BenchParser(description=__doc__.splitlines()[0])
    steps, repeats = count(limits.TOTAL_TIMESTEPS), count(REPEATS)
    parser.add_argument("--ppo-steps", type=steps, default=4096)
    parser.add_argument("--repeats", type=repeats, default=5)
    parser.add_argument("--zoo-steps", type=steps, default=8192)
    parser.add_argument("--zoo-repeats", type=repeats, default=3)
    parser.add_argument("--seeds", type=count(limits.SEED, 0), nargs="+", default=[0, 1, 2])
    parser.add_argument("--eval-every", type=steps, default=5000)
    parser.add_argument("--json", type=output_path)
    args = parser.parse_args()
    check_unique(parser, args.seeds, "--seeds")
    if args.json is not None:
        check_output_file(args.json, "option '--json'", "train_speed.json", overwrite=True)
    torch.set_num_threads(1)  # what `sim2real train` does on CPU
    info = machine()
    load = ", ".join(f"{x:.2f}" for x in info["load_average_at_start"])
    print(f"{info['date']}  {info['cpu']}  {info['cores']} cores  load average {load}")
    hopper = []
    for setting, steps, repeats in (
        ("sb3_default", args.ppo_steps, args.repeats),
        ("zoo_hopper", args.zoo_steps, args.zoo_repeats),
    ):
        print(f"PPO steps/s ({setting}), {repeats} interleaved repeats of {steps} timesteps:")
        result = bench_hopper(setting, steps, repeats)
        hopper.append(result)
        for env_id, rates in result["rates"].items():
            print(
                f"  {env_id:22s} median {rates['wall_median']:7.1f} steps/s wall, "
                f"{rates['cpu_median']:7.1f} CPU time, {rates['rollout_median']:7.1f} in rollouts"
            )
        print(
            f"  ratio ours/peer: {result['ratio_wall_median']:.2f}x wall, "
            f"{result['ratio_cpu_median']:.2f}x CPU time (target >= 1.5x), "
            f"{result['ratio_rollout_median']:.2f}x in rollouts"
        )
    cartpole = []
    for seed in args.seeds:
        print(f"cartpole_dr.yaml, seed {seed}, evaluating every {args.eval_every:,} timesteps:")
        result = bench_cartpole(seed, args.eval_every)
        cartpole.append(result)
        reached = result["reached"]
        if reached is None:
            print(f"  did not reach {THRESHOLD:.0f} within {result['total_timesteps_budget']:,}")
        else:
            print(
                f"  reached {reached['nominal']:.1f} >= {THRESHOLD:.0f} at "
                f"{reached['timesteps']:,} timesteps: {reached['wall_s']:.1f} s wall, "
                f"{reached['train_s']:.1f} s without evaluations (target <= 60 s)"
            )
    if args.json:
        results = {"machine": info, "ppo_hopper": hopper, "cartpole_to_95": cartpole}
        write_json(args.json, results)


if __name__ == "__main__":
    run_bench(main)
