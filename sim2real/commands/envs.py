"""``sim2real envs``: registered worlds, their spaces and randomizable parameters."""

from __future__ import annotations

import argparse

import gymnasium as gym

from sim2real.envs import REGISTRY
from sim2real.randomization import EVENTS, get_parameter


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("envs", help="list registered environments", description=__doc__)
    parser.add_argument("--elements", action="store_true", help="also list every element name")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    for entry in REGISTRY:
        env = gym.make(entry.env_id).unwrapped
        try:
            print(
                f"{entry.env_id}  ({entry.max_episode_steps} steps/episode, "
                f"control step {env.control_dt:g} s)"
            )
            print(f"  {entry.description}")
            print(f"  observation: {_space(env.observation_space)}")
            print(f"  action:      {_space(env.action_space)}")
            print("  randomizable parameters:")
            for parameter, elements in env.layout.elements.items():
                definition = get_parameter(parameter)
                names = (
                    ", ".join(elements)
                    if args.elements or len(elements) <= 4
                    else (f"{', '.join(elements[:4])}, ... ({len(elements)} in all)")
                )
                print(f"    {parameter:<22} [{definition.unit}] {definition.scope}: {names}")
            if env.layout.event_links:
                print(f"  events: {', '.join(EVENTS)} on {', '.join(env.layout.event_links)}")
        finally:
            env.close()
        print()
    return 0


def _space(space: gym.Space) -> str:
    if isinstance(space, gym.spaces.Box):
        return f"Box{space.shape} in [{space.low.min():g}, {space.high.max():g}]"
    return str(space)
