"""``sim2real rollout``: run episodes with a random or zero policy; print dynamics and returns."""

from __future__ import annotations

import argparse

import gymnasium as gym
import numpy as np

from sim2real import limits
from sim2real.envs import check_env_id
from sim2real.table import render_table


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "rollout",
        help="roll out a random/zero policy and print sampled dynamics and returns",
        description=__doc__,
    )
    parser.add_argument("env_id", help="a registered env id (see `sim2real envs`)")
    parser.add_argument("--randomization", metavar="FILE", help="randomization spec (YAML)")
    parser.add_argument("--episodes", type=int, default=5, help="number of episodes (default 5)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first reset (default 0)")
    parser.add_argument(
        "--policy",
        choices=("random", "zero"),
        default="random",
        help="uniform random actions or all-zero actions (default random)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    check_env_id(args.env_id, "ENV_ID")
    limits.check_count(args.episodes, limits.EPISODES, "--episodes")
    limits.check_count(args.seed, limits.SEED, "--seed", minimum=0)
    env = gym.make(args.env_id, randomization=args.randomization)
    try:
        rows, columns = rollout_table(env, args.episodes, args.seed, args.policy)
    finally:
        env.close()
    spec = env.unwrapped.randomization
    print(
        f"{args.env_id}: {args.episodes} episode(s), {args.policy} policy, seed {args.seed}, "
        f"randomization: {spec.source if spec.terms or spec.events else 'none (nominal dynamics)'}"
    )
    print(render_table(["episode", "return", "steps", *columns], rows))
    return 0


def rollout_table(
    env: gym.Env, episodes: int, seed: int, policy: str
) -> tuple[list[list[object]], list[str]]:
    """One row per episode: return, length, events fired (if any) and every randomized value."""
    randomized = _randomized_columns(env)
    has_events = bool(env.unwrapped.randomization.events)
    env.action_space.seed(seed)
    rows = []
    for episode in range(episodes):
        _, info = env.reset(seed=seed if episode == 0 else None)
        dynamics = [_lookup(info["dynamics"], column) for column in randomized]
        total, steps, done = 0.0, 0, False
        fired = len(info.get("events", []))
        while not done:
            action = (
                env.action_space.sample()
                if policy == "random"
                else np.zeros(env.action_space.shape, env.action_space.dtype)
            )
            _, reward, terminated, truncated, step_info = env.step(action)
            total, steps, done = total + reward, steps + 1, terminated or truncated
            fired += len(step_info.get("events", []))
        rows.append([episode, total, steps, *([fired] if has_events else []), *dynamics])
    return rows, (["events"] if has_events else []) + randomized


def _randomized_columns(env: gym.Env) -> list[str]:
    base = env.unwrapped
    columns: list[str] = []
    for bound in base.randomization.terms:
        parameter = bound.term.parameter
        names = base.layout.names(parameter)
        for index in bound.indices:
            column = parameter if len(names) == 1 else f"{parameter}:{names[index]}"
            if column not in columns:
                columns.append(column)
    return columns


def _lookup(dynamics: dict, column: str) -> float:
    parameter, _, element = column.partition(":")
    value = dynamics[parameter]
    if isinstance(value, dict):  # a one-element parameter's column is named without it
        return value[element] if element else next(iter(value.values()))
    return value
