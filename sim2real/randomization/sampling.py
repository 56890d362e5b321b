"""Sampling: a pure function of (bound terms, base values, numpy Generator).

Every term writes ``operation(base, draw)`` into a copy of ``base``, so values never
compound: the base is the nominal model (or the values fixed by ``set_dynamics``), never
what the previous episode drew. Draw order depends only on the spec, so a seed fixes the
whole sequence of dynamics.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from sim2real.randomization.binding import BoundEvent, BoundTerm
from sim2real.randomization.dynamics import Dynamics
from sim2real.randomization.spec import Distribution, Operation


def sample(
    terms: Sequence[BoundTerm], base: Mapping[str, np.ndarray], rng: np.random.Generator
) -> Dynamics:
    """Draw every term once and return the resulting dynamics (``base`` is not modified).

    Parameters no term touches share ``base``'s arrays (resets stay cheap, and the applier
    skips them by identity): treat the result as read-only, as the env does.
    """
    values = dict(base)
    copied: set[str] = set()
    for bound in terms:
        term = bound.term
        if term.parameter not in copied:
            values[term.parameter] = np.array(base[term.parameter], dtype=np.float64)
            copied.add(term.parameter)
        size = 1 if term.shared else len(bound.indices)
        draws = draw(term.distribution, size, rng)
        nominal = np.asarray(base[term.parameter])[bound.indices]
        values[term.parameter][bound.indices] = operate(term.operation, nominal, draws)
    return values


def draw(distribution: Distribution, size: int, rng: np.random.Generator) -> np.ndarray:
    """``size`` draws; a zero-width distribution returns its value without touching ``rng``."""
    low, high = distribution.low, distribution.high
    if distribution.is_constant:
        return np.full(size, low)
    if distribution.kind == "uniform":
        return rng.uniform(low, high, size)
    if distribution.kind == "log_uniform":
        return np.exp(rng.uniform(np.log(low), np.log(high), size))
    return np.clip(rng.normal(distribution.mean, distribution.std, size), low, high)


def operate(operation: Operation, nominal: np.ndarray, draws: np.ndarray) -> np.ndarray:
    if operation == "scale":
        return nominal * draws
    if operation == "add":
        return nominal + draws
    return draws if draws.shape == nominal.shape else np.full(nominal.shape, draws[0])


def draw_event(bound: BoundEvent, rng: np.random.Generator) -> list[tuple[str, np.ndarray]]:
    """One world-frame 3-vector per link: a draw on each of the event's axes, zero elsewhere."""
    vectors = []
    for link in bound.links:
        vector = np.zeros(3)
        vector[bound.axes] = draw(bound.term.distribution, len(bound.axes), rng)
        vectors.append((link, vector))
    return vectors


def draw_period(interval_s: tuple[float, float], rng: np.random.Generator) -> float:
    """Seconds to an event's next occurrence; a fixed period draws nothing."""
    low, high = interval_s
    return low if low == high else float(rng.uniform(low, high))
