"""Figures of an identification: recorded vs simulated joints, and the loss curve."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from sim2real.sysid.objective import Segment

__all__ = ["plot_loss_curve", "plot_trajectories"]

MAX_JOINTS = 6


def plot_trajectories(
    recorded: np.ndarray,
    simulated: dict[str, np.ndarray],
    segments: Sequence[Segment],
    episode: int,
    joint_names: Sequence[str],
    control_dt: float,
) -> Figure:
    """Joint positions of one episode: recorded, and each simulation replayed per segment.

    ``recorded`` holds the episode's states ``(steps + 1, joints)`` (the reset state first);
    ``simulated`` maps a label to the predicted states after each step ``(steps, joints)``.
    Each segment's line starts at the recorded state it was replayed from.
    """
    shown = min(len(joint_names), MAX_JOINTS)
    figure = Figure(figsize=(10, 2.2 * shown), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(shown, 1, sharex=True, squeeze=False)[:, 0]
    time_s = np.arange(len(recorded)) * control_dt
    mine = [s for s in segments if s.episode == episode]
    first = mine[0].episode_step if mine else 0
    for joint, axis in enumerate(axes):
        axis.plot(time_s, recorded[:, joint], color="black", lw=2, label="recorded")
        for (label, states), color in zip(simulated.items(), ("tab:red", "tab:blue"), strict=False):
            for number, segment in enumerate(mine):
                start = segment.step - first
                steps = np.arange(start, start + segment.length + 1)
                values = np.concatenate(
                    [[recorded[start, joint]], states[start : start + segment.length, joint]]
                )
                axis.plot(
                    time_s[steps], values, color=color, lw=1, label=label if number == 0 else None
                )
        axis.set_ylabel(joint_names[joint], fontsize=8)
    axes[0].legend(loc="upper right", fontsize=8)
    axes[-1].set_xlabel("time (s)")
    figure.suptitle(f"episode {episode}: joint positions, replayed from recorded states")
    return figure


def plot_loss_curve(curve: Sequence[tuple[int, float, float]], nominal_loss: float) -> Figure:
    """Best-so-far and per-generation median loss against evaluations (log scale)."""
    figure = Figure(figsize=(7, 4), layout="constrained")
    FigureCanvasAgg(figure)
    axis = figure.subplots()
    if curve:
        evaluations, best, median = (np.array(column) for column in zip(*curve, strict=True))
        axis.plot(evaluations, median, color="tab:gray", lw=1, label="generation median")
        axis.plot(evaluations, best, color="tab:blue", lw=2, label="best so far")
    axis.axhline(nominal_loss, color="tab:red", ls="--", lw=1, label="nominal values")
    axis.set_yscale("log")
    axis.set_xlabel("evaluations")
    axis.set_ylabel("loss (mean squared normalized error)")
    axis.legend()
    return figure
