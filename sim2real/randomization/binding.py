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

from sim2real.randomization.catalogue import ParameterDef, get_parameter, range_violation
from sim2real.randomization.dynamics import DynamicsLayout
from sim2real.randomization.spec import AXES, EventTerm, RandomizationSpec, SpecError, Term


@dataclass(frozen=True)
class BoundTerm:
    term: Term
    indices: np.ndarray  # element indices (into the layout's names) this term writes
    index: int  # position in the spec, for messages


@dataclass(frozen=True)
class BoundEvent:
    term: EventTerm
    links: tuple[str, ...]  # link names the event acts on
    axes: np.ndarray  # indices into (x, y, z)
    index: int  # position in the spec's events, for messages


@dataclass(frozen=True)
class BoundSpec:
    terms: tuple[BoundTerm, ...]
    source: str
    events: tuple[BoundEvent, ...] = ()

    def when(self, phase: str) -> tuple[BoundTerm, ...]:
        return tuple(bound for bound in self.terms if bound.term.when == phase)


def bind(
    spec: RandomizationSpec,
    layout: DynamicsLayout,
    nominal: Mapping[str, np.ndarray],
    control_dt: float,
    physics_dt: float | None = None,
) -> BoundSpec:
    """Resolve and validate every term of ``spec`` against a model; raises :class:`SpecError`.

    Parameters realized in whole steps are rounded to them (:func:`step_quantum`); the
    physics step defaults to the control step (one physics step per action).
    """
    bound = []
    for index, term in enumerate(spec.terms):
        where = f"{spec.source}: term {index} ({term.parameter})"
        if term.parameter not in layout.elements:
            valid = ", ".join(sorted(layout.elements))
            raise SpecError(f"{where}: parameter not randomizable in this env; valid: {valid}")
        indices = resolve_selector(term.selector, layout.names(term.parameter), where)
        _check_physical(term, nominal[term.parameter][indices], where, control_dt)
        quantum = step_quantum(get_parameter(term.parameter), control_dt, physics_dt)
        if quantum is not None:
            _warn_step_rounding(term, *quantum, where)
        bound.append(BoundTerm(term, indices, index))
    _check_no_overlap(bound, layout, spec.source)
    events = tuple(
        _bind_event(event, index, layout, spec.source) for index, event in enumerate(spec.events)
    )
    return BoundSpec(tuple(bound), spec.source, events)


def _check_no_overlap(bound: list[BoundTerm], layout: DynamicsLayout, source: str) -> None:
    """Two terms drawing the same element at the same time would silently keep the last one.

    Startup terms may stack with per-episode ones (a robot drawn once, jittered each
    episode); reset and interval terms both draw at reset, so they conflict.
    """
    for later_position, later in enumerate(bound):
        for earlier in bound[:later_position]:
            if earlier.term.parameter != later.term.parameter:
                continue
            if (earlier.term.when == "startup") != (later.term.when == "startup"):
                continue
            shared = np.intersect1d(earlier.indices, later.indices)
            if shared.size:
                element = layout.names(later.term.parameter)[int(shared[0])]
                raise SpecError(
                    f"{source}: terms {earlier.index} and {later.index} both randomize "
                    f"{later.term.parameter} of {element!r}; merge them or narrow a selector"
                )


def _bind_event(event: EventTerm, index: int, layout: DynamicsLayout, source: str) -> BoundEvent:
    where = f"{source}: event {index} ({event.event})"
    if not layout.event_links:
        raise SpecError(f"{where}: this env names no links for events to act on")
    if event.selector:
        chosen = resolve_selector(event.selector, layout.event_links, where)
        links = tuple(layout.event_links[i] for i in chosen)
    else:
        links = layout.event_links[:1]
    axes = np.array([AXES.index(axis) for axis in event.axes], dtype=np.int64)
    return BoundEvent(event, links, axes, index)


def check_values(
    parameter: str,
    values: np.ndarray,
    where: str,
    control_dt: float | None = None,
    physics_dt: float | None = None,
) -> None:
    """Exact values (``set_dynamics``, sweep points) a world can simulate, or SpecError.

    Finite, within the parameter's physical bounds, and a whole number of physics steps
    where the parameter is realized in steps (the rule targets follow; skipped without
    ``physics_dt``).
    """
    definition = get_parameter(parameter)
    largest = _largest(definition, control_dt)
    rule = range_violation(definition, float(np.min(values)), float(np.max(values)), largest)
    if rule is not None:
        offending = next(
            float(v)
            for v in values
            if range_violation(definition, float(v), float(v), largest) is not None
        )
        raise SpecError(f"{where}: {parameter} = {offending:g}; it must stay {rule}")
    quantum = step_quantum(definition, control_dt, physics_dt) if control_dt else None
    if quantum is not None:
        step_s, step = quantum
        steps = np.asarray(values) / step_s
        off = np.flatnonzero(np.abs(steps - np.round(steps)) > 1e-6)
        if off.size:
            value = float(values[off[0]])
            raise SpecError(
                f"{where}: {parameter} = {value:g} s is not a multiple of the {step} "
                f"{step_s:g} s; the nearest is {round(value / step_s) * step_s:g} s"
            )


def step_quantum(
    definition: ParameterDef, control_dt: float, physics_dt: float | None = None
) -> tuple[float, str] | None:
    """The step (seconds, name) a parameter's values are realized in, or None."""
    physics_dt = physics_dt or control_dt
    if definition.step_quantum == "control" or (
        definition.step_quantum == "physics" and math.isclose(physics_dt, control_dt)
    ):
        return control_dt, "control step"
    if definition.step_quantum == "physics":
        return physics_dt, "physics step"
    return None


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
    # Huge factors overflow to inf, which the physical check then names: no numpy warning.
    with np.errstate(over="ignore", invalid="ignore"):
        if term.operation == "scale":
            ends = np.stack([nominal * low, nominal * high])
            return ends.min(axis=0), ends.max(axis=0)
        if term.operation == "add":
            return nominal + low, nominal + high
    return np.full_like(nominal, low), np.full_like(nominal, high)


def _largest(definition: ParameterDef, control_dt: float | None) -> float | None:
    """The parameter's maximum in this world: its own, or a number of control steps."""
    if definition.maximum_control_steps is None or control_dt is None:
        return definition.maximum
    return definition.maximum_control_steps * control_dt


def _check_physical(term: Term, nominal: np.ndarray, where: str, control_dt: float) -> None:
    definition = get_parameter(term.parameter)
    maximum = _largest(definition, control_dt)
    if math.isinf(term.distribution.low) or math.isinf(term.distribution.high):
        if definition.minimum is None and maximum is None:
            return  # an unbounded normal on an unbounded parameter: every draw is finite
        raise SpecError(f"{where}: a normal distribution needs a 'range' to keep it physical")
    low, high = value_bounds(term, nominal)
    smallest, largest = float(low.min()), float(high.max())
    rule = range_violation(definition, smallest, largest, maximum)
    if rule is not None:
        offending = largest if rule.startswith("<") else smallest
        raise SpecError(
            f"{where}: field 'range' gives {term.parameter} = {offending:g} after "
            f"'{term.operation}'; it must stay {rule}"
        )


def _warn_step_rounding(term: Term, step_s: float, step: str, where: str) -> None:
    for bound in (term.distribution.low, term.distribution.high):
        if math.isfinite(bound) and term.operation == "abs":
            steps = bound / step_s
            if abs(steps - round(steps)) > 1e-6:
                warnings.warn(
                    f"{where}: {term.parameter} {bound:g} s is not a multiple of the {step} "
                    f"{step_s:g} s; it is rounded to {round(steps)} step(s) "
                    f"= {round(steps) * step_s:g} s",
                    stacklevel=3,
                )
