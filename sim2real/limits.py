"""Sanity limits on sizes and counts, in one place, each with the reason for its maximum.

Above ``maximum`` a value is a typo or a unit mistake (``1e30`` steps, ``1e8`` envs) that would
train forever, hang or run out of memory: it is refused with one line saying the limit.
Above ``warn_above`` it is legal but costly: a :class:`LargeValueWarning` says so (the CLI
prints it on one line) and the work goes on.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from decimal import Decimal

from sim2real.errors import UserError

__all__ = [
    "BUFFER_SIZE",
    "CHECKPOINT_KEEP",
    "EPISODES",
    "EVALUATION_SEEDS",
    "HISTORY_ROLLOUT",
    "HISTORY_STEPS",
    "LAYER_WIDTH",
    "LargeValueWarning",
    "Limit",
    "N_BOOT",
    "N_ENVS",
    "N_EPOCHS",
    "ROLLOUT_EPISODES",
    "ROLLOUT_STEPS",
    "SEED",
    "SWEEP_POINTS",
    "TOTAL_TIMESTEPS",
    "WORKERS",
    "check_count",
    "check_limit",
    "number",
    "over_limit",
    "warn_if_large",
]


class LargeValueWarning(UserWarning):
    """A size is legal but large (hours of compute, GBs of memory)."""


@dataclass(frozen=True)
class Limit:
    maximum: int
    why: str  # why nothing above ``maximum`` makes sense (said in the error)
    warn_above: int | None = None
    cost: str = ""  # what a value above ``warn_above`` costs (said in the warning)


# Simulation and learning run at roughly 1e3-1e4 steps/s on one machine.
TOTAL_TIMESTEPS = Limit(
    10**10, "weeks of training even at 5,000 steps/s", 10**8, "hours to days of training"
)
N_ENVS = Limit(1024, "each env is a PyBullet world, with subproc a process", 128, "slow to start")
SEED = Limit(2**31 - 1, "numpy and torch seeds are 32-bit and SB3 adds the env index")
# Per seed and condition; evaluation.episodes, --episodes and --eval-episodes.
EPISODES = Limit(100_000, "up to 1e8 steps per condition", 1_000, "long evaluations")
EVALUATION_SEEDS = Limit(10_000, "each seed is a fresh env", 100, "long evaluations")
ROLLOUT_EPISODES = Limit(
    10**7, "runs x conditions x seeds x --episodes", 100_000, "hours of rollouts"
)
SWEEP_POINTS = Limit(10_000, "every point is evaluated in full", 1_000, "hours of rollouts")
CHECKPOINT_KEEP = Limit(10_000, "each checkpoint is a whole model", 100, "much disk space")
N_BOOT = Limit(10**6, "replicates x episodes are held in memory", 100_000, "slow statistics")
WORKERS = Limit(1024, "each worker is a process")
# Hyperparameters that size memory or time.
ROLLOUT_STEPS = Limit(10**8, "the rollout buffer holds them all", 10**6, "GBs of memory")
BUFFER_SIZE = Limit(10**9, "the replay buffer is allocated up front", 10**7, "GBs of memory")
N_EPOCHS = Limit(10_000, "passes over every rollout", 100, "slow updates")
# policy_kwargs.net_arch: two layers of width w hold w x w weights (float32).
LAYER_WIDTH = Limit(16_384, "two layers of that width hold 1 GB of weights")
# adaptation: phase 2's dataset holds dataset_rollouts x rollout_steps x n_envs histories of
# k steps, each step an observation and an action (float32: 72-240 bytes for the walkers).
HISTORY_ROLLOUT = Limit(
    2 * 10**7, "a history step per entry, all held in memory", 5 * 10**6, "GBs of memory"
)
# env.history_steps: the policy's input is k x (observation + action) entries.
HISTORY_STEPS = Limit(
    1000, "the policy's input grows with k", 100, "a wide input: slow updates, large replay buffers"
)


def number(value: float) -> str:
    """``10000000000`` -> ``10,000,000,000``; a longer one (``1e30``) in exponent notation."""
    text = f"{value:,}"
    if len(text) <= 20:
        return text
    try:
        return f"{value:.4g}"
    except OverflowError:  # an int beyond float range (10**400): Decimal formats it
        return f"{Decimal(value):.4g}"


def over_limit(value: float, limit: Limit) -> str | None:
    """Why ``value`` is refused (for a message that already names the field), or None."""
    if value > limit.maximum:
        return f"must be <= {number(limit.maximum)} ({limit.why})"
    return None


def warn_if_large(value: float, limit: Limit, where: str) -> None:
    if limit.warn_above is not None and value > limit.warn_above:
        warnings.warn(
            f"{where} = {number(value)} is above {number(limit.warn_above)}: {limit.cost}",
            LargeValueWarning,
            stacklevel=2,
        )


def check_limit(value: float, limit: Limit, where: str) -> None:
    """Refuse ``value`` above the limit (one-line UserError naming ``where``), warn if large."""
    problem = over_limit(value, limit)
    if problem:
        raise UserError(f"{where} = {number(value)}; {problem}")
    warn_if_large(value, limit, where)


def check_count(value: object, limit: Limit, where: str, minimum: int = 1) -> int:
    """A whole number in ``[minimum, limit.maximum]``, e.g. a CLI option (see check_limit)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise UserError(f"{where} = {value!r}; must be a whole number >= {minimum}")
    if value < minimum:
        raise UserError(f"{where} = {value}; must be >= {minimum}")
    check_limit(value, limit, where)
    return value
