"""Study throughput: trials per hour on Ray Tune vs the same trials run one after another.

    python bench/study.py [--trials 8] [--timesteps 30000] [--concurrent 2] [--out DIR]
                          [--json out.json]

The trials are a grid over ``seed`` (0 .. --trials-1) of configs/cartpole_dr.yaml with
``total_timesteps`` = --timesteps (PPO, 8 envs, DR), each an ordinary train + evaluate on the
config's six targets (``evaluation.episodes`` 5 per condition), exactly what
``sim2real study`` runs per trial.

1. **one after another**: :func:`sim2real.study.trial.run_trial` for each seed in this
   process, one torch thread (no Ray);
2. **Ray Tune**: the same study through :func:`sim2real.study.tune.run_study` on an embedded
   local Ray instance, --concurrent trials at a time, 1 CPU and 1 torch thread each (Ray's
   start-up included in the wall time).

Reported: wall time and trials per hour of each, and the ratio (target: >= 1.8x with 2
concurrent trials on the 2-core machine). Both write their run directories under --out (a
temporary directory by default), so the work is identical. Run it on a quiet machine: other
processes on the cores change the ratio.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import yaml
from bench_parser import BenchParser, count, output_path, run_bench

from sim2real import limits
from sim2real.io import check_output_dir, check_output_file, write_json

REPO = Path(__file__).resolve().parents[1]


def write_study(directory: Path, trials: int, timesteps: int, concurrent: int) -> Path:
    study = {
        "name": "bench_study",
        "config": str(REPO / "configs" / "cartpole_dr.yaml"),
        "set": {
            "total_timesteps": timesteps,
            "evaluation.freq_steps": 0,
            "checkpoint.freq_steps": 0,
        },
        "grid": {"seed": list(range(trials))},
        "evaluation": {"episodes": 5},
        "resources": {"cpus": 1},
        "max_concurrent": concurrent,
        "max_failures": 0,
    }
    path = directory / "bench_study.yaml"
    path.write_text(yaml.safe_dump(study, sort_keys=False))
    return path


def one_after_another(study: Any, out: Path) -> float:
    from sim2real.study.trial import run_trial

    torch.set_num_threads(1)
    start = time.perf_counter()
    for params in study.grid_points():
        run_trial(study, params, out / f"seed{params['seed']}", lambda metrics: None)
    return time.perf_counter() - start


def on_ray(study: Any, out: Path) -> float:
    from sim2real.study.tune import run_study

    start = time.perf_counter()
    outcomes = run_study(study, out)
    elapsed = time.perf_counter() - start
    failed = [o.trial_id for o in outcomes if o.status != "finished"]
    if failed:
        raise SystemExit(f"trials did not finish on Ray: {failed}")
    return elapsed


def main() -> None:
    parser = BenchParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=count(limits.SWEEP_POINTS), default=8)
    parser.add_argument("--timesteps", type=count(limits.TOTAL_TIMESTEPS), default=30000)
    parser.add_argument("--concurrent", type=count(limits.WORKERS), default=2)
    parser.add_argument("--out", type=output_path, help="where the runs go (default tmp)")
    parser.add_argument("--json", type=output_path, default=None)
    args = parser.parse_args()
    if args.json is not None:
        check_output_file(args.json, "option '--json'", "study.json", overwrite=True)
    if args.out is not None:  # a new one: trials found there would be read back, not timed
        check_output_dir(args.out, "option '--out'", new=True)
    from sim2real.study.spec import load_study

    out = args.out or Path(tempfile.mkdtemp(prefix="bench_study-"))
    out.mkdir(parents=True, exist_ok=True)
    study = load_study(write_study(out, args.trials, args.timesteps, args.concurrent))
    sequential_s = one_after_another(study, out / "sequential")
    ray_s = on_ray(study, out / "ray")
    result = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}",
        "trials": args.trials,
        "timesteps": args.timesteps,
        "concurrent": args.concurrent,
        "sequential_s": round(sequential_s, 1),
        "ray_s": round(ray_s, 1),
        "sequential_trials_per_hour": round(3600 * args.trials / sequential_s, 1),
        "ray_trials_per_hour": round(3600 * args.trials / ray_s, 1),
        "speedup": round(sequential_s / ray_s, 2),
        "out": str(out),
    }
    print(json.dumps(result, indent=2))
    print(
        f"\n| trials x steps | one after another | Ray Tune ({args.concurrent} concurrent) | "
        f"speedup |\n|---|---|---|---|\n| {args.trials} x {args.timesteps:,} | "
        f"{sequential_s:.0f} s ({result['sequential_trials_per_hour']:.0f}/h) | "
        f"{ray_s:.0f} s ({result['ray_trials_per_hour']:.0f}/h) | {result['speedup']:.2f}x |"
    )
    if args.json is not None:
        write_json(args.json, result)


if __name__ == "__main__":
    run_bench(main)
