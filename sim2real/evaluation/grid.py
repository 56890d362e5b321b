"""Sweep grids: ``--param NAME[:SELECTOR] --values LO:HI:N`` -> fixed dynamics per grid point.

Values are ABSOLUTE values of the parameter, written to every selected element (e.g.
``--param link_mass:pole --values 0.05:0.5:10`` sets the pole's mass to 0.05 ... 0.5 kg);
with ``scale=True`` they are multiples of each selected element's nominal value instead
(``--values 0.5:3:6 --scale``: 0.5x ... 3x nominal). Every parameter not swept stays at
its nominal value. Pure functions over the env's layout and nominal arrays (no simulator).
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from sim2real.errors import UserError
from sim2real.limits import SWEEP_POINTS, check_limit, number, over_limit
from sim2real.randomization.binding import check_values, resolve_selector, value_bounds
from sim2real.randomization.catalogue import PARAMETERS, get_parameter
from sim2real.randomization.dynamics import DynamicsLayout
from sim2real.randomization.spec import RandomizationSpec

__all__ = [
    "Axis",
    "BoundAxis",
    "axis_value",
    "bind_axes",
    "dr_range",
    "grid_points",
    "parse_axes",
    "parse_param",
    "parse_values",
    "point_dynamics",
]

MAX_AXES = 2
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Axis:
    """One swept parameter: its name, element selector (globs; empty = all) and values."""

    parameter: str
    selector: tuple[str, ...]
    values: tuple[float, ...]
    scale: bool = False

    @property
    def label(self) -> str:
        name = f"{self.parameter}:{','.join(self.selector)}" if self.selector else self.parameter
        unit = "x nominal" if self.scale else get_parameter(self.parameter).unit
        return f"{name} [{unit}]"


@dataclass(frozen=True)
class BoundAxis:
    """An axis resolved against one env: the selected element indices and their nominals."""

    axis: Axis
    elements: tuple[str, ...]  # all element names of the parameter in this env
    indices: np.ndarray  # selected element indices
    nominal: np.ndarray  # nominal values of ALL elements of the parameter


def parse_param(text: str) -> tuple[str, tuple[str, ...]]:
    """``"link_mass:pole"`` -> ``("link_mass", ("pole",))``; selector globs split on commas."""
    name, colon, selector = text.partition(":")
    if name not in PARAMETERS:
        raise UserError(
            f"--param {text!r}: unknown parameter {name!r}; valid: {', '.join(sorted(PARAMETERS))}"
        )
    patterns = tuple(p.strip() for p in selector.split(",")) if colon else ()
    if any(not p for p in patterns):
        raise UserError(
            f"--param {text!r}: empty element name in the selector; e.g. link_mass:pole"
        )
    return name, patterns


def _short(text: str, limit: int = 40) -> str:
    return repr(text) if len(text) <= limit else repr(text[: limit - 3] + "...")


def parse_values(text: str) -> tuple[float, ...]:
    """``"LO:HI:N"`` -> N evenly spaced values (N >= 2, LO < HI); ``"a,b,c"`` -> those values.

    A list must be strictly increasing (a single value is allowed). At most
    :data:`~sim2real.limits.SWEEP_POINTS` values, refused before any array is made.
    """
    where = f"--values {_short(text)}"
    items = text.split(",")
    if ":" not in text:
        _refuse_too_many(len(items), where)
    try:
        if ":" in text:
            low_text, high_text, count_text = text.split(":")
            low, high, count = float(low_text), float(high_text), int(count_text)
        else:
            values = np.array([float(v) for v in items])
    except ValueError:  # also a wrong number of ':' parts
        raise UserError(
            f"{where}: expected LO:HI:N (e.g. 0.5:2:7) or a list a,b,c of numbers"
        ) from None
    if ":" in text:
        if not (math.isfinite(low) and math.isfinite(high)):
            raise UserError(f"{where}: values must be finite numbers")
        if count < 2 or not low < high:
            raise UserError(
                f"{where}: need LO < HI and N >= 2 in LO:HI:N; for one value write just the value"
            )
        _refuse_too_many(count, where)
        with np.errstate(over="ignore", invalid="ignore"):  # a huge span: checked below
            values = np.linspace(low, high, count)
    with np.errstate(over="ignore", invalid="ignore"):
        if not np.all(np.isfinite(values)):
            raise UserError(f"{where}: values must be finite numbers")
        if np.any(np.diff(values) <= 0):
            raise UserError(f"{where}: a list of values must be strictly increasing")
    return tuple(float(v) for v in values)


def _refuse_too_many(count: int, where: str) -> None:
    problem = over_limit(count, SWEEP_POINTS)
    if problem:
        raise UserError(f"{where}: {number(count)} values; {problem}")


def parse_axes(
    params: Sequence[str], values: Sequence[str], scale: bool = False
) -> tuple[Axis, ...]:
    """One :class:`Axis` per ``--param``/``--values`` pair (1 or 2 pairs, in order)."""
    if not params:
        raise UserError("--param is required: e.g. --param link_mass:pole --values 0.05:0.5:10")
    if len(params) != len(values):
        raise UserError(
            f"got {len(params)} --param but {len(values)} --values; give one --values per --param"
        )
    if len(params) > MAX_AXES:
        raise UserError(f"--param given {len(params)} times; sweeps are 1-D or 2-D (at most 2)")
    axes = []
    for param, value_text in zip(params, values, strict=True):
        name, selector = parse_param(param)
        axes.append(Axis(name, selector, parse_values(value_text), scale))
    points = math.prod(len(axis.values) for axis in axes)
    check_limit(points, SWEEP_POINTS, "grid points (the product of the --values counts)")
    if len(axes) == 2 and axes[0].parameter == axes[1].parameter:
        same = set(axes[0].selector) & set(axes[1].selector) or not (
            axes[0].selector and axes[1].selector
        )
        if same:
            raise UserError(
                f"--param {params[0]!r} and {params[1]!r} select the same elements; "
                "sweep two different parameters or disjoint elements"
            )
    return tuple(axes)


def grid_points(axes: Sequence[Axis]) -> list[tuple[float, ...]]:
    """All grid points, first axis outermost: ``[(x0, y0), (x0, y1), ...]``."""
    return list(itertools.product(*(axis.values for axis in axes)))


def bind_axes(
    axes: Sequence[Axis],
    layout: DynamicsLayout,
    nominal: Mapping[str, np.ndarray],
    env_id: str,
    steps_s: tuple[float, float] | None = None,
) -> tuple[BoundAxis, ...]:
    """Resolve selectors on an env's layout and check every value is physical there.

    ``steps_s`` (control step, physics step) also checks that latencies are whole steps, as
    ``set_dynamics`` will when the sweep runs.
    """
    bound = []
    for axis in axes:
        where = f"--param {axis.parameter}" + (
            f":{','.join(axis.selector)}" if axis.selector else ""
        )
        if axis.parameter not in layout.elements:
            valid = ", ".join(sorted(layout.elements))
            raise UserError(f"{where}: parameter not randomizable in {env_id}; valid: {valid}")
        elements = layout.elements[axis.parameter]
        indices = resolve_selector(axis.selector, elements, where)
        values = np.asarray(nominal[axis.parameter], dtype=float)
        _check_physical(axis, values[indices], where, steps_s)
        bound.append(BoundAxis(axis, elements, indices, values))
    return tuple(bound)


def _check_physical(
    axis: Axis, nominal: np.ndarray, where: str, steps_s: tuple[float, float] | None
) -> None:
    """Every value the sweep will set, checked by the rule ``set_dynamics`` applies."""
    points = np.asarray(axis.values, dtype=float)
    with np.errstate(over="ignore", invalid="ignore"):
        values = np.outer(points, nominal).ravel() if axis.scale else points
    control_dt, physics_dt = steps_s if steps_s is not None else (None, None)
    check_values(axis.parameter, values, f"{where}: --values", control_dt, physics_dt)


def point_dynamics(bound_axes: Sequence[BoundAxis], point: Sequence[float]) -> dict[str, object]:
    """Named dynamics (for ``set_dynamics``) of one grid point; only swept elements listed."""
    named: dict[str, object] = {}
    for bound, value in zip(bound_axes, point, strict=True):
        selected = {}
        for index in bound.indices:
            base = bound.nominal[index]
            selected[bound.elements[index]] = float(base * value if bound.axis.scale else value)
        entry = named.setdefault(bound.axis.parameter, {})
        entry.update(selected)  # type: ignore[union-attr]
    return named


def axis_value(bound: BoundAxis, values: np.ndarray) -> float:
    """Where an env with ``values`` (all elements of the parameter) sits on this axis.

    The mean over the selected elements, divided by nominal per element on a scale axis.
    """
    selected = np.asarray(values, dtype=float)[bound.indices]
    if bound.axis.scale:
        nominal = bound.nominal[bound.indices]
        with np.errstate(divide="ignore", invalid="ignore"):
            selected = np.where(nominal != 0, selected / nominal, math.nan)
    return float(np.mean(selected))


def dr_range(bound: BoundAxis, spec: RandomizationSpec) -> tuple[float, float] | None:
    """Smallest and largest value the training DR spec gives the axis' selected elements.

    The envelope over every term of ``spec`` on that parameter that touches a selected
    element (via :func:`value_bounds`), in the axis' units; None when no term does.
    """
    lows, highs = [], []
    for term in spec.terms:
        if term.parameter != bound.axis.parameter:
            continue
        indices = resolve_selector(term.selector, bound.elements, f"{spec.source}")
        shared = np.intersect1d(indices, bound.indices)
        if shared.size == 0:
            continue
        low, high = value_bounds(term, bound.nominal[shared])
        if bound.axis.scale:
            nominal = bound.nominal[shared]
            ends = np.stack([low / nominal, high / nominal])  # a negative nominal flips them
            low, high = ends.min(axis=0), ends.max(axis=0)
        lows.append(float(np.min(low)))
        highs.append(float(np.max(high)))
    if not lows:
        return None
    return min(lows), max(highs)
