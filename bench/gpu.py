"""SAC on CUDA vs CPU, and the exports of a CUDA-trained run (the GPU check of the export issue).

    python bench/gpu.py [--steps 30000] [--seed 0] [--devices cuda cpu] [--out DIR]
                        [--json out.json]

1. **Wall clock.** ``configs/hopper_dr_sac.yaml`` (the RL Zoo's tuned Hopper SAC, 8 gradient
   steps of batch 256 per 8 env steps, 400x300 networks, DR on) is trained twice through
   ``sim2real train``: with ``device: cuda`` and with ``device: cpu`` (one torch thread, as
   ``train`` runs on CPU), the same seed and ``--steps``, evaluation and checkpoints off, side
   by side so that a slow moment of the machine hits both. Reported: each run's wall time
   (the whole ``sim2real train`` process, start-up included), its steps/s and the device its
   run.json records.
2. **Exports of the CUDA-trained run** (the first of ``--devices``). ``sim2real export``
   writes it as ONNX and TorchScript; each export passes its parity check (max |export - the
   run's deterministic predict| on env observations <= 1e-5) or fails. Reported: the parity
   numbers from each ``contract.json``. Then ``sim2real evaluate`` reads the ONNX export on
   nominal dynamics and the config's targets (a CUDA-trained policy run by onnxruntime on
   CPU).

Needs a CUDA GPU (exits 2 without one; ``--devices cpu`` tries the bench on CPU alone) and
the ``export`` extra.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from bench_parser import BenchParser, check_unique, count, output_path, run_bench

from sim2real import limits
from sim2real.errors import UserError
from sim2real.io import check_output_dir, check_output_file, write_json

CONFIG = "hopper_dr_sac.yaml"
DEVICES = ("cuda", "cpu")
EXPORT_FORMATS = ("onnx", "torchscript")
STEPS = limits.Limit(10_000_000, "a wall-clock comparison, not a training")


def sim2real(*arguments: str) -> list[str]:
    """The ``sim2real`` command of this interpreter (no reliance on PATH)."""
    return [sys.executable, "-c", "from sim2real.cli import main; main()", *arguments]


def train_command(device: str, steps: int, seed: int, run_dir: Path) -> list[str]:
    settings = {
        "device": device,
        "total_timesteps": steps,
        "evaluation.freq_steps": 0,
        "checkpoint.freq_steps": 0,
    }
    overrides = [item for key, value in settings.items() for item in ("--set", f"{key}={value}")]
    return sim2real(
        "train", CONFIG, "--seed", str(seed), *overrides, "--run-dir", str(run_dir), "--no-progress"
    )


def train_side_by_side(
    devices: list[str], steps: int, seed: int, root: Path
) -> dict[str, dict[str, Any]]:
    """Start the trainings at once; each one's wall time is its own process's."""
    began, processes = {}, {}
    for device in devices:
        command = train_command(device, steps, seed, root / device)
        began[device] = time.perf_counter()
        processes[device] = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
    outputs, seconds = {}, {}
    for device, process in processes.items():  # all of them end before any failure is raised
        outputs[device] = process.communicate()[0].decode()
        seconds[device] = time.perf_counter() - began[device]
    results = {}
    for device, process in processes.items():
        if process.returncode != 0:
            raise RuntimeError(
                f"training on {device} failed (rc {process.returncode}):\n{outputs[device]}"
            )
        run = json.loads((root / device / "run.json").read_text())
        results[device] = {
            "wall_s": seconds[device],
            "steps": run["timesteps"],
            "steps_per_s": run["timesteps"] / seconds[device],
            "device": run["device"],
        }
    return results


def export_parity(run_dir: Path, root: Path) -> dict[str, dict[str, Any]]:
    parity = {}
    for export_format in EXPORT_FORMATS:
        out = root / f"export_{export_format}"
        subprocess.run(
            sim2real("export", str(run_dir), "--format", export_format, "--out", str(out)),
            check=True,
        )
        parity[export_format] = json.loads((out / "contract.json").read_text())["parity"]
    return parity


def evaluate_export(export_dir: Path, root: Path, episodes: int) -> str:
    report = root / "evaluate"
    command = sim2real(
        "evaluate", str(export_dir), "--episodes", str(episodes), "--out", str(report)
    )
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def markdown(
    results: dict[str, dict[str, Any]], parity: dict[str, dict[str, Any]], exported: str
) -> str:
    lines = [
        "| device | steps | wall time | steps/s | run.json device |",
        "|---|---:|---:|---:|---|",
    ]
    for device, row in results.items():
        lines.append(
            f"| {device} | {row['steps']:,} | {row['wall_s']:.1f} s | {row['steps_per_s']:.0f} "
            f"| {row['device']} |"
        )
    if set(DEVICES) <= set(results):
        ratio = results["cpu"]["wall_s"] / results["cuda"]["wall_s"]
        lines += ["", f"CPU wall time / CUDA wall time: {ratio:.2f}x"]
    lines.append("")
    lines += [f"| export of the {exported} run | parity |", "|---|---|"]
    lines += [f"| {name} | {json.dumps(record)} |" for name, record in parity.items()]
    return "\n".join(lines)


def main() -> int:
    parser = BenchParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=count(STEPS), default=30_000, help="timesteps per training")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--devices",
        nargs="+",
        choices=DEVICES,
        default=list(DEVICES),
        help="the first one's run is exported (--devices cpu tries the bench without a GPU)",
    )
    parser.add_argument(
        "--episodes", type=count(limits.EPISODES), default=3, help="evaluation episodes"
    )
    parser.add_argument(
        "--out", type=output_path, help="a new directory to keep the runs in (default: a temp dir)"
    )
    parser.add_argument("--json", type=output_path, help="write the results here as JSON")
    args = parser.parse_args()
    if args.json is not None:
        check_output_file(args.json, "option '--json'", "gpu.json", overwrite=True)
    if args.out is not None:  # the runs and exports are new directories inside it
        check_output_dir(args.out, "option '--out'", new=True)
    check_unique(parser, args.devices, "--devices")
    if "cuda" in args.devices and not torch.cuda.is_available():
        raise UserError(
            "no CUDA GPU is visible to torch (--devices cpu runs the bench without one)"
        )
    with tempfile.TemporaryDirectory() as scratch:
        root = args.out if args.out is not None else Path(scratch)
        root.mkdir(parents=True, exist_ok=True)
        results = train_side_by_side(args.devices, args.steps, args.seed, root)
        parity = export_parity(root / args.devices[0], root)
        evaluation = evaluate_export(root / "export_onnx", root, args.episodes)
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    header = (
        f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; "
        f"{gpu}, {os.cpu_count()} CPU cores, Python "
        f"{platform.python_version()}, torch {torch.__version__}"
    )
    title = "sim2real evaluate of the ONNX export:"
    print(header, markdown(results, parity, args.devices[0]), title, evaluation, sep="\n\n")
    if args.json is not None:
        write_json(args.json, {"machine": header, "training": results, "parity": parity})
    return 0


if __name__ == "__main__":
    run_bench(main)
