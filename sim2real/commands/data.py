"""``sim2real data``: summarize a recorded data file (episodes, steps, duration, ranges)."""

from __future__ import annotations

import argparse

import numpy as np

from sim2real.table import render_table


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "data", help="summarize a data file written by sim2real record", description=__doc__
    )
    parser.add_argument("path", metavar="DATA.npz", help="a data file")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from sim2real.data import FORMAT_VERSION, load_data
    from sim2real.state import state_dimension_names

    data = load_data(args.path)
    lengths = data.episode_lengths
    returns = data.episode_returns()
    print(
        f"{args.path}: {data.env_id}, format version {FORMAT_VERSION}, policy {data.policy}\n"
        f"{data.episodes} episode(s), {data.steps} steps, {data.steps * data.control_dt:.2f} s "
        f"at {data.control_dt:g} s per step; episode length {lengths.min()}..{lengths.max()} "
        f"(mean {lengths.mean():.1f}), return {returns.min():.4g}..{returns.max():.4g} "
        f"(mean {returns.mean():.4g}); {int(data.terminated.sum())} terminated, "
        f"{int(data.truncated.sum())} truncated"
    )
    names = state_dimension_names(data.joint_names)
    rows = _ranges(names, data.state_matrix())
    rows += _ranges([f"action.{n}" for n in data.action_names], data.actions)
    if data.joint_torques is not None:
        rows += _ranges([f"torque.{n}" for n in data.actuated_joint_names], data.joint_torques)
    print(render_table(["quantity", "min", "max", "mean", "std"], rows))
    return 0


def _ranges(names: list[str] | tuple[str, ...], values: np.ndarray) -> list[list[object]]:
    return [
        [name, float(column.min()), float(column.max()), float(column.mean()), float(column.std())]
        for name, column in zip(names, values.T, strict=True)
    ]
