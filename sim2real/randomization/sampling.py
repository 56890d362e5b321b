"""Sampling: a pure function of (bound terms, base values, numpy Generator).

Every term writes ``operation(base, draw)`` into a copy of ``base``, so values never
compound: the base is the nominal model (or the values fixed by ``set_dynamics``), never
what the previous episode drew. Draw order depends only on the spec, so a seed fixes the
whole sequence of dynamics.

A :class:`Sampler` is built once per set of terms (an env builds one per spec) so a reset
draws every term in one or a few vectorized generator calls and combines them in one pass:
consecutive uniform and log-uniform terms share one ``rng.random`` call, which consumes
the generator exactly as one ``rng.uniform`` call per term would.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from sim2real.randomization.binding import BoundEvent, BoundTerm
from sim2real.randomization.dynamics import Dynamics
from sim2real.randomization.spec import Distribution, Operation

RunKind = Literal["constant", "uniform", "normal"]


def sample(
    terms: Sequence[BoundTerm], base: Mapping[str, np.ndarray], rng: np.random.Generator
) -> Dynamics:
    """Draw every term once and return the resulting dynamics (``base`` is not modified).

    Parameters no term touches share ``base``'s arrays (resets stay cheap, and the applier
    skips them by identity): treat the result as read-only, as the env does.
    """
    return Sampler(terms)(base, rng)


@dataclass(frozen=True)
class _DrawRun:
    """Consecutive draws of one kind, ``draws[start:stop]``: one generator call (none for
    constants); log-uniform entries are drawn in log space and exponentiated."""

    kind: RunKind
    start: int
    stop: int
    low: np.ndarray
    high: np.ndarray
    log: np.ndarray | None = None  # uniform: which entries are log-uniform (None: none)
    mean: np.ndarray | None = None  # normal only
    std: np.ndarray | None = None

    def draw(self, rng: np.random.Generator) -> np.ndarray:
        # low + span * U and mean + std * N are what rng.uniform and rng.normal compute per
        # entry, without their per-call validation of array bounds (10x the draw itself).
        if self.kind == "constant":
            return self.low
        count = self.stop - self.start
        if self.kind == "normal":
            normal = self.mean + self.std * rng.standard_normal(count)
            return np.clip(normal, self.low, self.high)
        draws = self.low + (self.high - self.low) * rng.random(count)
        return draws if self.log is None else np.where(self.log, np.exp(draws), draws)


class Sampler:
    """``sampler(base, rng) -> Dynamics``: :func:`sample` for one fixed set of bound terms."""

    def __init__(self, terms: Sequence[BoundTerm]):
        self.terms = tuple(terms)
        self._parameters = tuple(dict.fromkeys(bound.term.parameter for bound in self.terms))
        distributions: list[Distribution] = []  # one per draw, in spec order
        # Per operation: the (parameter, element index) each drawn value lands on, and its draw.
        landing: dict[Operation, list[tuple[str, int, int]]] = {}
        for bound in self.terms:
            term, first = bound.term, len(distributions)
            distributions.extend([term.distribution] * (1 if term.shared else len(bound.indices)))
            for k, index in enumerate(bound.indices.tolist()):
                draw_index = first if term.shared else first + k
                landing.setdefault(term.operation, []).append((term.parameter, index, draw_index))
        self._size = len(distributions)
        self._runs = _draw_runs(distributions)
        self._landing = landing
        self._draw_of = {
            operation: np.array([entry[2] for entry in entries], dtype=np.int64)
            for operation, entries in landing.items()
        }
        self._flat: tuple[tuple[int, ...], dict[Operation, np.ndarray], list[tuple[str, int, int]]]
        self._flat = ((), {}, [])

    def __call__(self, base: Mapping[str, np.ndarray], rng: np.random.Generator) -> Dynamics:
        values = dict(base)
        if not self.terms:
            return values
        draws = np.empty(self._size)
        for run in self._runs:
            draws[run.start : run.stop] = run.draw(rng)
        arrays = [base[name] for name in self._parameters]
        targets, slices = self._flat_layout(tuple(len(array) for array in arrays))
        flat = np.concatenate(arrays, dtype=np.float64)  # a fresh copy: base is never written
        for operation, where in targets.items():
            flat[where] = operate(operation, flat[where], draws[self._draw_of[operation]])
        for name, start, stop in slices:
            values[name] = flat[start:stop]
        return values

    def _flat_layout(
        self, sizes: tuple[int, ...]
    ) -> tuple[dict[Operation, np.ndarray], list[tuple[str, int, int]]]:
        """Where each drawn value lands with the touched parameters' arrays laid end to end."""
        if self._flat[0] != sizes:
            starts = np.cumsum((0,) + sizes[:-1]).tolist()
            offset = dict(zip(self._parameters, starts, strict=True))
            targets = {
                operation: np.array([offset[name] + index for name, index, _ in entries])
                for operation, entries in self._landing.items()
            }
            slices = [
                (name, start, start + size)
                for name, start, size in zip(self._parameters, starts, sizes, strict=True)
            ]
            self._flat = (sizes, targets, slices)
        return self._flat[1], self._flat[2]


def _draw_kind(distribution: Distribution) -> RunKind:
    if distribution.is_constant:
        return "constant"
    return "normal" if distribution.kind == "normal" else "uniform"


def _draw_runs(distributions: list[Distribution]) -> tuple[_DrawRun, ...]:
    """Maximal stretches of draws of one kind, in spec order."""
    runs: list[_DrawRun] = []
    start = 0
    while start < len(distributions):
        kind = _draw_kind(distributions[start])
        stop = start
        while stop < len(distributions) and _draw_kind(distributions[stop]) == kind:
            stop += 1
        run = distributions[start:stop]
        # Constants keep their value; log-uniform draws are uniform in log space.
        log = np.array([kind == "uniform" and d.kind == "log_uniform" for d in run])
        low = np.array([d.low for d in run])
        high = np.array([d.high for d in run])
        low[log], high[log] = np.log(low[log]), np.log(high[log])
        if kind == "normal":
            mean, std = np.array([d.mean for d in run]), np.array([d.std for d in run])
            runs.append(_DrawRun(kind, start, stop, low, high, mean=mean, std=std))
        else:
            runs.append(_DrawRun(kind, start, stop, low, high, log if log.any() else None))
        start = stop
    return tuple(runs)


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
