"""System identification benchmark: fit every shipped Hopper target from a few recorded episodes.

For each shipped ``hopper_*`` target, records ``--episodes`` episodes (default 10) of a
scripted policy (``--policy sine`` or ``random``) on it, then runs ``sim2real identify`` with
the shipped Hopper DR spec (``hopper_dr.yaml``: every link mass, floor friction, joint
damping, motor strength, gravity, and the action latency tried at 0, 1 and 2 steps) and
compares the fit with the target's true values:

- relative error |fit - true| / |true| of every link mass, the floor friction and each
  motor's strength (issue 11's target: <= 10%);
- joint damping: its nominal is 0 N*m*s/rad, so most targets have none and a relative error is
  undefined; the absolute error is given, also as a fraction of the spec's 0.5 range;
- whether the parameter was reported as identified, the latency found, the wall time.

Then again with sensor noise on the *measured state*: Gaussian noise of std ``--noise``
(default 0.03, the noisy_sensors target's, in observation units) mapped through the Hopper's
observation scalings: ``noise`` on positions and angles (m, rad), ``10 * noise`` on joint
and base velocities (the Hopper observes 0.1 x joint speed and 0.3 x base velocity), a
rotation of ``noise`` rad std per axis on the orientation; and on the measured joint torques
``noise`` times each joint's largest recorded torque.

The recorded joint torques (what a torque sensor or a motor-current estimate reads) are fitted
with the motion, as ``identify`` does by default; ``--no-torques`` fits the motion alone, where
masses, strengths and dampings are only known up to one common factor.

    python bench/sysid.py [--episodes 10] [--policy sine] [--budget 3000] [--workers 2] \\
        [--horizon 10] [--noise 0.03] [--targets heavy hard] [--pin-torso] [--no-torques] \\
        [--out DIR]

``--pin-torso`` fixes the torso mass at its true value (a payload weighed on a scale): motion
data fix masses, motor strengths and dampings only up to one common factor (see the README),
and one known mass pins it.

Writes ``<out>/results.json`` and ``<out>/summary.md`` (the table for BENCHMARKS.md), and the
data files and identify outputs per target.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import math
import os
import platform
import shutil
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from bench_parser import BenchParser, count, output_path, real, run_bench

from sim2real import limits
from sim2real.data import RecordedData, save_data
from sim2real.errors import UserError
from sim2real.evaluation.conditions import make_env, target_condition
from sim2real.io import atomic_write_text, check_output_dir, check_output_file, write_json
from sim2real.randomization import RandomizationSpec, load_spec, parse_spec
from sim2real.randomization.spec import spec_to_data
from sim2real.record import record
from sim2real.sysid.identify import (
    BUDGET,
    HORIZON,
    MIN_BUDGET,
    check_budget_shares,
    identify,
    prepare,
)
from sim2real.sysid.report import write_outputs
from sim2real.sysid.space import search_space
from sim2real.table import render_markdown
from sim2real.targets import Target, shipped_targets_named

HOPPER = "sim2real/Hopper-v0"
SPEC = "hopper_dr.yaml"
GOAL = 0.10
DAMPING_RANGE = 0.5
RELATIVE = ("link_mass", "lateral_friction", "motor_strength")


def main() -> None:
    args = parse_args()
    out = check_output_dir(args.out, "option '--out'")
    # Targets with a non-ideal actuator change no catalogue value: nothing to compare a fit with.
    targets = [
        target
        for target in shipped_targets_named(HOPPER, args.targets, "option '--targets'")
        if target.actuator is None
    ]
    if not targets:
        raise UserError(
            f"option '--targets': {', '.join(args.targets)}: each has an actuator model, which "
            "changes no catalogue value that a fit could be compared with"
        )
    check_budget(args.budget)
    noises = sorted({0.0, args.noise})
    tags = [run_tag(target, noise, args.pin_torso) for noise in noises for target in targets]
    # Every path this bench writes, checked before any work.
    for name in ("results.json", "summary.md", *(f"{tag}.npz" for tag in tags)):
        check_output_file(out / name, "option '--out'", name, overwrite=True)
    for tag in tags:
        check_output_dir(out / tag, "option '--out'")
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for noise in noises:
        for target in targets:
            result = run_one(target, noise, args, out)
            results.append(result)
            print(summary_row(result), flush=True)
    write_json(out / "results.json", results)
    table = summary_markdown(results, args)
    atomic_write_text(out / "summary.md", table)
    print(table)


def parse_args() -> argparse.Namespace:
    parser = BenchParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=count(limits.EPISODES), default=10)
    parser.add_argument("--policy", choices=("sine", "random"), default="sine")
    parser.add_argument("--budget", type=count(BUDGET, MIN_BUDGET), default=3000)
    parser.add_argument("--workers", type=count(limits.WORKERS), default=2)
    parser.add_argument("--horizon", type=count(HORIZON), default=10)
    parser.add_argument("--noise", type=real(0.0), default=0.03)
    parser.add_argument("--seed", type=count(limits.SEED, 0), default=0)
    parser.add_argument("--targets", nargs="*", help="target names (default: every one)")
    parser.add_argument(
        "--pin-torso", action="store_true", help="fix the torso mass at its true value"
    )
    parser.add_argument("--no-torques", action="store_true", help="fit the motion only")
    parser.add_argument("--out", type=output_path, default=Path("bench_out/sysid"))
    return parser.parse_args()


def check_budget(budget: int) -> None:
    """``--budget`` is shared by the latencies the spec allows: enough for each search."""
    env = gym.make(HOPPER)
    try:
        space = search_space(env.unwrapped, load_spec(SPEC))
    finally:
        env.close()
    check_budget_shares(budget, space, "option '--budget'")


def run_tag(target: Target, noise: float, pin_torso: bool) -> str:
    """The name of one target's data file and report folder under ``--out``."""
    return f"{target.name}-noise{noise:g}" + ("-torso-pinned" if pin_torso else "")


def run_one(target: Any, noise: float, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    env = make_env(HOPPER, target_condition(target))
    try:
        data = record(env, args.policy, args.episodes, seed=args.seed)
        truth = env.unwrapped.get_dynamics()
    finally:
        env.close()
    if noise:
        data = with_sensor_noise(data, noise, np.random.default_rng(args.seed))
    tag = run_tag(target, noise, args.pin_torso)
    path = save_data(out / f"{tag}.npz", data)
    spec = spec_for(truth, args.pin_torso)
    setup = prepare(
        path, spec, (), args.budget, args.workers, args.seed, args.horizon,
        torques=not args.no_torques,
    )  # fmt: skip
    started = time.perf_counter()
    result = identify(setup)
    wall_s = time.perf_counter() - started
    shutil.rmtree(out / tag, ignore_errors=True)  # this bench's own folder from a rerun
    write_outputs(result, out / tag)
    rows = []
    for fit in result.fits:
        c = fit.coordinate
        true = truth[c.parameter]
        true = float(true[c.element] if isinstance(true, dict) else true)
        rows.append(
            {
                "name": c.name,
                "parameter": c.parameter,
                "true": true,
                "fit": fit.value,
                "std": fit.std,
                "identified": fit.identified,
                "abs_error": abs(fit.value - true),
                "rel_error": abs(fit.value - true) / abs(true) if true else None,
            }
        )
    return {
        "target": target.name,
        "noise": noise,
        "torso_pinned": args.pin_torso,
        "torques": setup.torques,
        "episodes": data.episodes,
        "steps": data.steps,
        "latency_true": float(truth["action_latency_s"]),
        "latency_fit": result.latency,
        "latency_identified": result.latency_identified,
        "loss_nominal": result.nominal_loss,
        "loss_fit": result.fit_loss,
        "evaluations": result.evaluations,
        "wall_s": wall_s,
        "fits": rows,
    }


def spec_for(truth: dict[str, Any], pin_torso: bool) -> RandomizationSpec:
    """The shipped spec, or with the torso mass fixed at its true value (a weighed payload),
    which pins the scale that motion data cannot fix."""
    spec = load_spec(SPEC)
    if not pin_torso:
        return spec
    terms = [
        term
        for term in spec_to_data(spec)
        if not (term["parameter"] == "link_mass" and term.get("selector") == ["torso"])
    ]
    torso = truth["link_mass"]["torso"]
    terms.append(
        {"parameter": "link_mass", "selector": ["torso"], "value": torso, "operation": "abs"}
    )
    return parse_spec(terms, source=f"{SPEC} with the torso mass pinned")


def with_sensor_noise(data: RecordedData, std: float, rng: np.random.Generator) -> RecordedData:
    """The data with Gaussian noise on the measured state (see the module docstring)."""
    state = {name: values.copy() for name, values in data.state.items()}
    for name in ("joint_positions", "base_position"):
        state[name] += rng.normal(0.0, std, state[name].shape)
    for name in ("joint_velocities", "base_linear_velocity", "base_angular_velocity"):
        state[name] += rng.normal(0.0, 10 * std, state[name].shape)
    state["base_orientation"] = _rotate(
        state["base_orientation"], rng.normal(0, std, (len(state["base_orientation"]), 3))
    )
    torques = data.joint_torques
    if torques is not None:
        largest = np.abs(torques).max(axis=0)
        torques = torques + rng.normal(0.0, 1.0, torques.shape) * std * largest
    return dataclasses.replace(data, state=state, joint_torques=torques)


def _rotate(quaternions: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """Each quaternion (x, y, z, w) times a small rotation given as a rotation vector."""
    angle = np.linalg.norm(angles, axis=1, keepdims=True)
    axis = np.divide(angles, angle, out=np.zeros_like(angles), where=angle > 0)
    small = np.concatenate([axis * np.sin(angle / 2), np.cos(angle / 2)], axis=1)
    x1, y1, z1, w1 = quaternions.T
    x2, y2, z2, w2 = small.T
    return np.stack(
        [
            w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
            w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
            w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
            w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
        ],
        axis=1,
    )


def scale_free(result: dict[str, Any]) -> tuple[float, float]:
    """The common factor k of the fitted masses and motor strengths over the true ones (their
    geometric mean ratio), and the worst error left once it is divided out: the part of the
    fit that motion data can fix (see the README on the scale symmetry)."""
    fits = [f for f in result["fits"] if f["parameter"] in ("link_mass", "motor_strength")]
    ratios = np.array([f["fit"] / f["true"] for f in fits])
    factor = float(np.exp(np.mean(np.log(ratios))))
    return factor, float(np.max(np.abs(ratios / factor - 1.0)))


def worst(result: dict[str, Any], parameter: str) -> float:
    errors = [f["rel_error"] for f in result["fits"] if f["parameter"] == parameter]
    return max((e for e in errors if e is not None), default=math.nan)


def summary_row(result: dict[str, Any]) -> str:
    return (
        f"{result['target']:>14} noise {result['noise']:g}: masses {worst(result, 'link_mass'):.1%}"
        f", friction {worst(result, 'lateral_friction'):.1%}, strength "
        f"{worst(result, 'motor_strength'):.1%}, latency {result['latency_fit']} "
        f"(true {result['latency_true']:g}), {result['wall_s']:.0f} s"
    )


def summary_markdown(results: list[dict[str, Any]], args: argparse.Namespace) -> str:
    headers = [
        "target",
        "sensor noise",
        "steps",
        "link masses (worst)",
        "floor friction",
        "motor strength (worst)",
        "damping abs. error (worst, / 0.5 range)",
        "scale k / worst error after it",
        "latency fit / true (s)",
        "not identified",
        "<= 10%",
        "wall (s)",
    ]
    rows = []
    for result in results:
        damping = [f for f in result["fits"] if f["parameter"] == "joint_damping"]
        worst_damping = max(f["abs_error"] for f in damping)
        relative = [worst(result, p) for p in RELATIVE]
        missing = [f["name"] for f in result["fits"] if not f["identified"]]
        latency = result["latency_fit"]
        rows.append(
            [
                result["target"],
                f"{result['noise']:g}" if result["noise"] else "off",
                result["steps"],
                f"{relative[0]:.1%}",
                f"{relative[1]:.1%}",
                f"{relative[2]:.1%}",
                f"{worst_damping:.3f} ({worst_damping / DAMPING_RANGE:.0%})",
                "{:.3f} / {:.1%}".format(*scale_free(result)),
                f"{latency:g} / {result['latency_true']:g}" if latency is not None else "-",
                ", ".join(missing) or "-",
                "yes" if max(relative) <= GOAL else "no",
                f"{result['wall_s']:.0f}",
            ]
        )
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    settings = (
        f"{args.episodes} episodes of the {args.policy} policy per target, budget {args.budget}, "
        f"{args.workers} workers, horizon {args.horizon}, seed {args.seed}"
        + (", torso mass pinned at its true value" if args.pin_torso else "")
        + (", motion only (no torques)" if args.no_torques else ", motion and joint torques")
    )
    return f"{stamp}, {machine}; {settings}.\n\n" + render_markdown(headers, rows) + "\n"


if __name__ == "__main__":
    run_bench(main)
