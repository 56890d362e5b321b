"""Walker steps per second, side by side: sim2real with and without DR, the peer, raw physics.

For each robot (Hopper, Walker2D, HalfCheetah, Ant; ``--robots`` picks): random actions (one
fixed sequence for every case), resets included (when the robot falls, and at the 1000-step
time limit). Each case is built once, then timed ``--repeats`` times,
interleaved, so a slow moment of the machine hits every case alike; the median is reported.
Wall-clock and process-CPU-time rates are both recorded: every case is single-threaded, so on
an idle machine they agree, and on a shared one the CPU-time rate is the one not inflated by
other processes taking turns on the cores.

    python bench/env_speed.py --steps 20000 --repeats 5 [--robots hopper ant] [--json FILE]
        [--resets 2000]   # also: microseconds per reset, and DR's draw and apply on their own

Cases, per robot (Hopper shown):

- ``sim2real``: ``gymnasium.make("sim2real/Hopper-v0")``, no randomization;
- ``sim2real + DR``: the same with :data:`DR_SPEC` (8 reset terms: masses, friction incl. the
  floor, joint damping, motor strength, gravity, latency, observation and action noise);
- ``sim2real, no wrappers``: ``HopperEnv()`` itself, without gymnasium.make's wrappers;
- ``peer``: ``gymnasium.make("HopperBulletEnv-v0")`` from pybullet-envs-gymnasium;
- ``raw physics``: the same model and physics settings driven by bare PyBullet calls (apply
  torques, step, read joint and torso states); no observation or reward code: the floor.
"""

from __future__ import annotations

import datetime
import itertools
import os
import platform
import statistics
import time
from collections.abc import Callable
from importlib import metadata
from typing import Any

import gymnasium as gym
import numpy as np
from bench_parser import REPEATS, BenchParser, count, output_path, run_bench

import sim2real.envs  # noqa: F401  (registers the sim2real worlds)
from sim2real import limits
from sim2real.envs.ant import AntEnv
from sim2real.envs.bullet import pybullet  # imported without its C banner
from sim2real.envs.half_cheetah import HalfCheetahEnv
from sim2real.envs.hopper import HopperEnv
from sim2real.envs.locomotion import DATA, LOAD_FLAGS, WalkerEnv
from sim2real.envs.walker2d import Walker2DEnv
from sim2real.io import check_output_file, write_json

MAX_EPISODE_STEPS = 1000
# robot name -> (sim2real id, its class, the peer's id)
ROBOTS: dict[str, tuple[str, type[WalkerEnv], str]] = {
    "hopper": ("sim2real/Hopper-v0", HopperEnv, "HopperBulletEnv-v0"),
    "walker2d": ("sim2real/Walker2D-v0", Walker2DEnv, "Walker2DBulletEnv-v0"),
    "halfcheetah": ("sim2real/HalfCheetah-v0", HalfCheetahEnv, "HalfCheetahBulletEnv-v0"),
    "ant": ("sim2real/Ant-v0", AntEnv, "AntBulletEnv-v0"),
}
DR_SPEC: dict[str, Any] = {
    "terms": [
        {"parameter": "link_mass", "range": [0.8, 1.2]},
        {"parameter": "lateral_friction", "range": [0.5, 1.25]},
        {"parameter": "joint_damping", "operation": "add", "range": [0.0, 0.5]},
        {"parameter": "motor_strength", "range": [0.8, 1.2]},
        {"parameter": "gravity", "range": [0.95, 1.05]},
        {"parameter": "action_latency_s", "operation": "abs", "range": [0.0, 0.033]},
        {"parameter": "observation_noise_std", "operation": "abs", "range": [0.0, 0.02]},
        {"parameter": "action_noise_std", "operation": "abs", "range": [0.0, 0.05]},
    ]
}

Runner = Callable[[np.ndarray], "Rates"]
Rates = tuple[float, float, int]  # (wall-clock steps/s, CPU-time steps/s, episodes ended)


class Timer:
    """Wall-clock and process CPU time over a block."""

    def __enter__(self) -> Timer:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu

    def rates(self, steps: int, episodes: int) -> Rates:
        return steps / self.wall, steps / self.cpu, episodes


def gym_runner(make: Callable[[], gym.Env]) -> Runner:
    """Time ``env.step`` over the actions, resetting on termination or at the time limit."""
    env = make()
    env.reset(seed=0)

    def run(actions: np.ndarray) -> Rates:
        env.reset()
        episode_steps = episodes = 0
        with Timer() as timer:
            for action in actions:
                _, _, terminated, truncated, _ = env.step(action)
                episode_steps += 1
                if terminated or truncated or episode_steps == MAX_EPISODE_STEPS:
                    env.reset()
                    episode_steps, episodes = 0, episodes + 1
        return timer.rates(len(actions), episodes)

    return run


def raw_physics_runner(robot: type[WalkerEnv]) -> Runner:
    """The floor: the robot's model and physics settings, bare PyBullet calls, nothing else."""
    cid = pybullet.connect(pybullet.DIRECT)
    pybullet.setPhysicsEngineParameter(deterministicOverlappingPairs=1, physicsClientId=cid)
    pybullet.setGravity(0.0, 0.0, robot.gravity_z, physicsClientId=cid)
    pybullet.setDefaultContactERP(0.9, physicsClientId=cid)
    pybullet.setPhysicsEngineParameter(
        fixedTimeStep=robot.control_dt,
        numSolverIterations=robot.solver_iterations,
        numSubSteps=robot.sub_steps,
        physicsClientId=cid,
    )
    floor = pybullet.loadSDF(str(DATA / "plane_stadium.sdf"), physicsClientId=cid)[0]
    pybullet.changeDynamics(
        floor,
        -1,
        lateralFriction=robot.floor_friction,
        restitution=robot.floor_restitution,
        physicsClientId=cid,
    )
    body = pybullet.loadMJCF(
        str(DATA / "mjcf" / robot.model_file), flags=LOAD_FLAGS, physicsClientId=cid
    )[0]
    infos = [
        pybullet.getJointInfo(body, j, physicsClientId=cid)
        for j in range(pybullet.getNumJoints(body, physicsClientId=cid))
    ]
    free = [info[0] for info in infos if info[2] != pybullet.JOINT_FIXED]
    pybullet.setJointMotorControlArray(
        body, free, pybullet.VELOCITY_CONTROL, forces=[0.0] * len(free), physicsClientId=cid
    )
    index = {info[1].decode(): info[0] for info in infos}
    joints = [index[name] for name in robot.action_names]
    torso = next((i for i, info in enumerate(infos) if info[12].decode() == robot.torso), -1)
    snapshot = pybullet.saveState(physicsClientId=cid)
    gains = np.array(
        [robot.power * robot.joint_power_coefs.get(n, robot.power_coef) for n in robot.action_names]
    )
    rng = np.random.default_rng(0)

    def torso_state() -> tuple[float, tuple[float, ...]]:
        if torso == -1:
            position, orientation = pybullet.getBasePositionAndOrientation(
                body, physicsClientId=cid
            )
            pybullet.getBaseVelocity(body, physicsClientId=cid)
            return position[2], orientation
        state = pybullet.getLinkState(body, torso, computeLinkVelocity=1, physicsClientId=cid)
        return state[0][2], state[1]

    def reset() -> None:
        pybullet.restoreState(snapshot, physicsClientId=cid)
        for joint in joints:
            pybullet.resetJointState(body, joint, rng.uniform(-0.1, 0.1), 0.0, physicsClientId=cid)

    def run(actions: np.ndarray) -> Rates:
        reset()
        torques = (gains * np.clip(actions, -1.0, 1.0)).tolist()
        episode_steps = episodes = 0
        with Timer() as timer:
            for torque in torques:
                pybullet.setJointMotorControlArray(
                    body, joints, pybullet.TORQUE_CONTROL, forces=torque, physicsClientId=cid
                )
                pybullet.stepSimulation(physicsClientId=cid)
                pybullet.getJointStates(body, joints, physicsClientId=cid)
                z, orientation = torso_state()
                episode_steps += 1
                pitch = pybullet.getEulerFromQuaternion(orientation)[1]
                fallen = robot.terminates and not (
                    z > robot.alive_height and abs(pitch) < robot.alive_pitch
                )
                if fallen or episode_steps == MAX_EPISODE_STEPS:
                    reset()
                    episode_steps, episodes = 0, episodes + 1
        return timer.rates(len(torques), episodes)

    return run


def make_runners(robot: str) -> dict[str, Runner]:
    import pybullet_envs_gymnasium  # noqa: F401  (registers the peers)

    env_id, cls, peer_id = ROBOTS[robot]
    return {
        "sim2real": gym_runner(lambda: gym.make(env_id)),
        "sim2real + DR": gym_runner(lambda: gym.make(env_id, randomization=DR_SPEC)),
        # What gymnasium.make's wrappers (TimeLimit, OrderEnforcing, env checker) cost per step.
        "sim2real, no wrappers": gym_runner(cls),
        "peer": gym_runner(lambda: gym.make(peer_id)),
        "raw physics": raw_physics_runner(cls),
    }


def measure(
    robot: str, steps: int, repeats: int, seed: int = 0
) -> dict[str, dict[str, list[float]]]:
    """Steps/s of every case by clock ("wall", "cpu") and episodes ended, ``repeats`` times
    each, interleaved."""
    n_actions = len(ROBOTS[robot][1].action_names)
    actions = np.random.default_rng(seed).uniform(-1.0, 1.0, (steps, n_actions))
    actions = actions.astype(np.float32)
    runners = make_runners(robot)
    for run in runners.values():  # warm-up: caches, lazy imports, first-step checkers
        run(actions[: min(steps, 1000)])
    results = {name: {"wall": [], "cpu": [], "episodes": []} for name in runners}
    for _ in range(repeats):
        for name, run in runners.items():
            for key, value in zip(("wall", "cpu", "episodes"), run(actions), strict=True):
                results[name][key].append(value)
    return results


def reset_costs(robot: str, resets: int, repeats: int) -> dict[str, float]:
    """Microseconds per reset, best of ``repeats``: a whole reset without and with
    :data:`DR_SPEC`, and the DR part of the latter on its own: drawing an episode's values,
    and writing them (``changeDynamics``, actuator and channels; alternating two draws so
    every value changes each time)."""
    cls = ROBOTS[robot][1]
    plain, randomized = cls(), cls(randomization=DR_SPEC)
    plain.reset(seed=0)
    randomized.reset(seed=0)
    draw = randomized._sample_episode  # the env's own sampler and stream, as reset uses them
    draws = itertools.cycle([draw(randomized._base, randomized._dynamics_rng) for _ in range(2)])
    cases: dict[str, Callable[[], object]] = {
        "reset, no DR": plain.reset,
        "reset, DR": randomized.reset,
        "DR draw": lambda: draw(randomized._base, randomized._dynamics_rng),
        "DR apply": lambda: randomized._set_values(next(draws)),
    }
    best = dict.fromkeys(cases, float("inf"))
    try:
        for _ in range(repeats):
            for name, call in cases.items():
                start = time.perf_counter()
                for _ in range(resets):
                    call()
                best[name] = min(best[name], (time.perf_counter() - start) / resets * 1e6)
    finally:
        plain.close()
        randomized.close()
    return best


def machine() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "pybullet": metadata.version("pybullet"),
        "pybullet_envs_gymnasium": metadata.version("pybullet_envs_gymnasium"),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def table(results: dict[str, dict[str, list[float]]], steps: int) -> str:
    """Markdown: per case, both clocks' median [min-max] and the ratios of the medians."""
    median = {
        clock: {name: statistics.median(r[clock]) for name, r in results.items()}
        for clock in ("wall", "cpu")
    }
    lines = [
        "| case | steps/s, wall clock: median [min-max] | steps/s, CPU time: median [min-max] "
        "| vs peer (wall / CPU) | vs raw physics (wall / CPU) | mean episode (steps) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, rates in results.items():
        cells = [
            f"{median[clock][name]:,.0f} [{min(rates[clock]):,.0f}-{max(rates[clock]):,.0f}]"
            for clock in ("wall", "cpu")
        ]
        vs_peer = " / ".join(f"{m[name] / m['peer']:.2f}x" for m in median.values())
        vs_raw = " / ".join(f"{100 * m[name] / m['raw physics']:.0f}%" for m in median.values())
        episode = steps * len(rates["episodes"]) / max(1, sum(rates["episodes"]))
        lines.append(f"| {name} | {cells[0]} | {cells[1]} | {vs_peer} | {vs_raw} | {episode:.1f} |")
    lines.append("")
    for clock, m in median.items():
        dr_cost = 100 * (1 - m["sim2real + DR"] / m["sim2real"])
        lines.append(
            f"- {'wall clock' if clock == 'wall' else 'CPU time'}: sim2real / peer "
            f"{m['sim2real'] / m['peer']:.2f}x, sim2real / raw physics "
            f"{100 * m['sim2real'] / m['raw physics']:.0f}%, DR cost "
            f"{dr_cost:.1f}% (8-term reset spec)"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = BenchParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--steps", type=count(limits.TOTAL_TIMESTEPS), default=20_000, help="steps per timed run"
    )
    parser.add_argument("--repeats", type=count(REPEATS), default=5, help="timed runs per case")
    parser.add_argument("--json", type=output_path, help="also write raw results to this file")
    parser.add_argument(
        "--robots", nargs="+", choices=sorted(ROBOTS), default=list(ROBOTS), help="default: all"
    )
    parser.add_argument(
        "--resets",
        type=count(limits.TOTAL_TIMESTEPS, 0),
        default=0,
        help="also time N resets per case, DR's parts apart",
    )
    args = parser.parse_args(argv)
    if args.json is not None:
        check_output_file(args.json, "option '--json'", "env_speed.json", overwrite=True)
    load_before = os.getloadavg()[0]
    info = machine()
    print(f"Machine: {info['platform']}, {info['processor']}, {info['cpu_count']} CPUs")
    print(f"Python {info['python']}, pybullet {info['pybullet']}, date {info['date']}")
    print(f"{args.steps} steps x {args.repeats} interleaved repeats per case")
    results, reset_us = {}, {}
    for robot in args.robots:
        results[robot] = measure(robot, args.steps, args.repeats)
        print(f"\n### {ROBOTS[robot][0]}\n")
        print(table(results[robot], args.steps))
        if args.resets:
            reset_us[robot] = reset_costs(robot, args.resets, args.repeats)
            costs = ", ".join(f"{name} {us:.0f} us" for name, us in reset_us[robot].items())
            print(f"\nper reset, best of {args.repeats}: {costs}")
    # Other processes on the machine skew wall-clock rates: say how busy it was.
    load = [load_before, os.getloadavg()[0]]
    print(f"\n1-min load average before / after: {load[0]:.2f} / {load[1]:.2f}")
    if args.json:
        payload = {"machine": {**info, "load_average_1min": load}, "steps": args.steps}
        payload |= {"repeats": args.repeats, "results": results, "reset_us": reset_us}
        write_json(args.json, payload)


if __name__ == "__main__":
    run_bench(main)
