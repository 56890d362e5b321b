"""Binding a spec to one model: resolve selectors to element indices, check physical validity.

Binding happens once, when an env is built, because only then are the link/joint names
and the nominal values known.
"""

from __future__ import annotations

import fnmatch
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from sim2real.randomization.catalogue import get_parameter, minimum_violation
from sim2real.randomization.dynamics import DynamicsLayout
from sim2real.randomization.spec import RandomizationSpec, SpecError, Term


@dataclass(frozen=True)
class BoundTerm:
    term: Term
    indices: np.ndarray  # element indices (into the layout's names) this term writes
    index: int  # position in the spec, for messages


@dataclass(frozen=True)
class BoundSpec:
    terms: tuple[BoundTerm, ...]
    source: str

    def when(self, phase: str) -> tuple[BoundTerm, ...]:
        return tuple(bound for bound in self.terms if bound.term.when == phase)


def bind(
    spec: RandomizationSpec,
    layout: DynamicsLayout,
    nominal: Mapping[str, np.ndarray],
    control_dt: float,
) -> BoundSpec:
    """Resolve and validate every term of ``spec`` against a model; raises :class:`SpecError`."""
    bound = []
    for index, term in enumerate(spec.terms):
        where = f"{spec.source}: term {index} ({term.parameter})"
        if term.parameter not in layout.elements:
            valid = ", ".join(sorted(layout.elements))
            raise SpecError(f"{where}: parameter not randomizable in this env; valid: {valid}")
        indices = resolve_selector(term.selector, layout.names(term.parameter), where)
        _check_physical(term, nominal[term.parameter][indices], where)
        if term.parameter == "action_latency_s":
            _warn_latency_rounding(term, control_dt, where)
        bound.append(BoundTerm(term, indices, index))
    return BoundSpec(tuple(bound), spec.source)


def resolve_selector(selector: tuple[str, ...], names: tuple[str, ...], where: str) -> np.ndarray:
    """Indices of the names matched by any pattern; every pattern must match something."""
    if not selector:
        return np.arange(len(names))
    chosen: set[int] = set()
    for pattern in selector:
        matches = [i for i, name in enumerate(names) if fnmatch.fnmatchcase(name, pattern)]
        if not matches:
            raise SpecError(
                f"{where}: field 'selector' = {pattern!r} matches nothing; "
                f"valid: {', '.join(names)}"
            )
        chosen.update(matches)
    return np.array(sorted(chosen), dtype=np.int64)


def value_bounds(term: Term, nominal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Smallest and largest value each element can take after the operation."""
    low, high = term.distribution.low, term.distribution.high
    if term.operation == "scale":
        ends = np.stack([nominal * low, nominal * high])
        return ends.min(axis=0), ends.max(axis=0)
    if term.operation == "add":
        return nominal + low, nominal + high
    return np.full_like(nominal, low), np.full_like(nominal, high)


def _check_physical(term: Term, nominal: np.ndarray, where: str) -> None:
    definition = get_parameter(term.parameter)
    if definition.minimum is None:
        return
    if math.isinf(term.distribution.low):
        raise SpecError(f"{where}: a normal distribution needs a 'range' to keep it physical")
    smallest = float(value_bounds(term, nominal)[0].min())
    rule = minimum_violation(definition, smallest)
    if rule is not None:
        raise SpecError(
            f"{where}: field 'range' gives {term.parameter} = {smallest:g} after "
            f"'{term.operation}'; it must stay {rule}"
        )


def _warn_latency_rounding(term: Term, control_dt: float, where: str) -> None:
    for bound in (term.distribution.low, term.distribution.high):
        if math.isfinite(bound) and term.operation == "abs":
            steps = bound / control_dt
            if abs(steps - round(steps)) > 1e-6:
                warnings.warn(
                    f"{where}: latency {bound:g} s is not a multiple of the control step "
                    f"{control_dt:g} s; it is rounded to {round(steps)} step(s) "
                    f"= {round(steps) * control_dt:g} s",
                    stacklevel=3,
                )
