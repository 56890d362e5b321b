"""Declarative randomization specs: typed, frozen data parsed from YAML or plain dicts.

A spec is a list of terms. YAML form::

    terms:
      - parameter: link_mass        # a name from the catalogue
        selector: [torso, "thigh*"]  # link/joint/dimension names or globs; default: all
        distribution: uniform        # uniform | log_uniform | normal
        range: [0.8, 1.2]            # bounds (normal: clip bounds, required where a minimum exists)
        operation: scale             # scale | add | abs
        when: reset                  # reset | startup | interval
      - parameter: gravity
        value: -9.0                  # a fixed value (zero-width range)
        operation: abs
      - event: push_velocity         # a name from the event catalogue
        selector: torso              # links; default: the robot's base
        axes: [x, y]                 # default [x, y]; one draw per axis
        range: [-0.5, 0.5]           # per-axis magnitude (m/s here), any distribution
        when: interval               # reset | interval
        interval_s: [8, 12]          # the time to the next push, drawn uniformly

Structural problems are caught here; problems that need the model (unknown link names,
values that become non-physical for the nominal values) are caught in
:mod:`sim2real.randomization.binding` when an env is built.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np

from sim2real.errors import UserError
from sim2real.randomization.catalogue import PARAMETERS
from sim2real.randomization.events import EVENTS
from sim2real.resources import read_yaml, resolve_file

DistributionKind = Literal["uniform", "log_uniform", "normal"]
Operation = Literal["scale", "add", "abs"]
When = Literal["reset", "startup", "interval"]
EventWhen = Literal["reset", "interval"]
AXES = ("x", "y", "z")

_TERM_KEYS = (
    "parameter",
    "selector",
    "distribution",
    "range",
    "value",
    "mean",
    "std",
    "operation",
    "when",
    "interval_s",
    "shared",
)
_EVENT_KEYS = (
    "event",
    "selector",
    "axes",
    "distribution",
    "range",
    "value",
    "mean",
    "std",
    "when",
    "interval_s",
)


class SpecError(UserError):
    """A randomization spec is invalid; the message names the source, term and field."""


@dataclass(frozen=True)
class Distribution:
    """A bounded distribution. ``normal`` draws N(mean, std) clipped to [low, high]."""

    kind: DistributionKind
    low: float
    high: float
    mean: float = 0.0
    std: float = 0.0

    @property
    def is_constant(self) -> bool:
        return self.low == self.high


@dataclass(frozen=True)
class Term:
    parameter: str
    distribution: Distribution
    operation: Operation = "scale"
    selector: tuple[str, ...] = ()  # empty: every element the parameter applies to
    when: When = "reset"
    interval_s: float | None = None  # only for when == "interval"
    shared: bool = False  # one draw shared by all selected elements instead of one each


@dataclass(frozen=True)
class EventTerm:
    event: str
    distribution: Distribution  # magnitude along each axis, in the event's unit
    selector: tuple[str, ...] = ()  # link names or globs; empty: the robot's base
    axes: tuple[str, ...] = ("x", "y")
    when: EventWhen = "interval"
    interval_s: tuple[float, float] | None = None  # next occurrence drawn in [min, max] s


@dataclass(frozen=True)
class RandomizationSpec:
    terms: tuple[Term, ...] = ()
    source: str = "<inline>"
    events: tuple[EventTerm, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.terms or self.events)


def load_spec(path: str | Path) -> RandomizationSpec:
    """Read a spec from a YAML file: a path, or the name of a shipped one (``cartpole_dr.yaml``)."""
    try:
        file = resolve_file(path, "randomization")
    except UserError as error:
        raise SpecError(str(error)) from None
    return read_spec_file(file)


def read_spec_file(file: Path) -> RandomizationSpec:
    """The spec in an existing YAML file; an empty one is refused: a truncated or wrong file
    must not pass for "no randomization"."""
    data = read_yaml(file)
    if data is None:
        raise SpecError(
            f"{file}: the file is empty (or holds only comments); a spec without terms is "
            "'terms: []'"
        )
    return parse_spec(data, source=str(file))


def parse_spec(data: Any, source: str = "<inline>") -> RandomizationSpec:
    """Build a spec from plain data: ``{"terms": [...]}``, a bare list of terms, or None."""
    if data is None:
        return RandomizationSpec(source=source)
    if isinstance(data, Mapping):
        unknown = set(data) - {"terms", "description"}
        if {"name", "env_id"} <= unknown:  # a target file given where a spec belongs
            raise SpecError(
                f"{source}: is a target file, not a randomization spec; to train on a target "
                "use sim2real transfer RUN --target FILE --strategy scratch"
            )
        if unknown:
            raise SpecError(
                f"{source}: unknown key(s) {sorted(unknown)}; valid keys: terms, description"
            )
        data = data.get("terms") or []
    if not is_list(data):
        raise SpecError(f"{source}: 'terms' must be a list of terms, got {type(data).__name__}")
    terms, events = [], []
    for i, raw in enumerate(data):
        if isinstance(raw, Mapping) and "event" in raw:
            events.append(_parse_event(raw, f"{source}: term {i}"))
        else:
            terms.append(_parse_term(raw, f"{source}: term {i}"))
    return RandomizationSpec(terms=tuple(terms), source=source, events=tuple(events))


def _parse_term(raw: Any, where: str) -> Term:
    if not isinstance(raw, Mapping):
        raise SpecError(f"{where}: a term must be a mapping, got {raw!r}")
    parameter = _catalogue_name(raw, "parameter", PARAMETERS, _TERM_KEYS, where)
    where = f"{where} ({parameter})"
    when = _choice(raw.get("when", "reset"), When, where, "when")
    return Term(
        parameter=parameter,
        distribution=_parse_distribution(raw, where),
        operation=_choice(raw.get("operation", "scale"), Operation, where, "operation"),
        selector=_parse_selector(raw.get("selector"), where),
        when=when,
        interval_s=_parse_interval(raw.get("interval_s"), when, where),
        shared=_parse_bool(raw.get("shared", False), where, "shared"),
    )


def spec_to_data(spec: RandomizationSpec) -> list[dict[str, Any]]:
    """The spec's terms (then its events) as the plain data :func:`parse_spec` reads back."""
    return [_term_to_data(term) for term in spec.terms] + [
        _event_to_data(event) for event in spec.events
    ]


def _term_to_data(term: Term) -> dict[str, Any]:
    data: dict[str, Any] = {"parameter": term.parameter}
    if term.selector:
        data["selector"] = list(term.selector)
    data.update(_distribution_to_data(term.distribution))
    data.update(operation=term.operation, when=term.when)
    if term.interval_s is not None:
        data["interval_s"] = term.interval_s
    if term.shared:
        data["shared"] = True
    return data


def _event_to_data(event: EventTerm) -> dict[str, Any]:
    data: dict[str, Any] = {"event": event.event}
    if event.selector:
        data["selector"] = list(event.selector)
    data["axes"] = list(event.axes)
    data.update(_distribution_to_data(event.distribution))
    data["when"] = event.when
    if event.interval_s is not None:
        data["interval_s"] = list(event.interval_s)
    return data


def _distribution_to_data(dist: Distribution) -> dict[str, Any]:
    if dist.kind == "uniform" and dist.is_constant:
        return {"value": dist.low}
    if dist.kind == "normal":
        data: dict[str, Any] = {"distribution": "normal", "mean": dist.mean, "std": dist.std}
        if math.isfinite(dist.low) or math.isfinite(dist.high):
            data["range"] = [dist.low, dist.high]
        return data
    return {"distribution": dist.kind, "range": [dist.low, dist.high]}


def _parse_event(raw: Mapping[str, Any], where: str) -> EventTerm:
    event = _catalogue_name(raw, "event", EVENTS, _EVENT_KEYS, where)
    where = f"{where} ({event})"
    when = _choice(raw.get("when", "interval"), EventWhen, where, "when")
    return EventTerm(
        event=event,
        distribution=_parse_distribution(raw, where),
        selector=_parse_selector(raw.get("selector"), where),
        axes=_parse_axes(raw.get("axes", ["x", "y"]), where),
        when=when,
        interval_s=_parse_event_interval(raw.get("interval_s"), when, where),
    )


def _catalogue_name(
    raw: Mapping[str, Any],
    field: str,
    catalogue: Mapping[str, object],
    valid_keys: Sequence[str],
    where: str,
) -> str:
    """The term's known fields, then its name (``parameter`` or ``event``) in its catalogue."""
    unknown = set(raw) - set(valid_keys)
    if unknown:
        raise SpecError(
            f"{where}: unknown field(s) {sorted(unknown)}; valid: {', '.join(valid_keys)}"
        )
    name = raw.get(field)
    if not isinstance(name, str) or name not in catalogue:
        kind = "catalogue" if field == "parameter" else f"{field} catalogue"
        raise SpecError(
            f"{where}: field {field!r} = {name!r} is not in the {kind}; "
            f"valid: {', '.join(sorted(catalogue))}"
        )
    return name


def _parse_axes(value: Any, where: str) -> tuple[str, ...]:
    axes = [value] if isinstance(value, str) else value
    if (
        not isinstance(axes, Sequence)
        or not axes
        or any(axis not in AXES for axis in axes)
        or len(set(axes)) != len(axes)
    ):
        raise SpecError(f"{where}: field 'axes' = {value!r}; must be distinct names among x, y, z")
    return tuple(axes)


def _parse_event_interval(value: Any, when: str, where: str) -> tuple[float, float] | None:
    """A number (a fixed period) or [min, max] (a period drawn anew after each occurrence)."""
    if when != "interval" or value is None:
        _parse_interval(value, when, where)  # raises: required with interval, else not allowed
        return None
    if is_list(value):
        low, high = _parse_range(value, where, "interval_s")
    else:
        low = high = _number(value, where, "interval_s")
    if low <= 0:
        raise SpecError(f"{where}: field 'interval_s' = {value!r} must be > 0")
    return low, high


def _parse_distribution(raw: Mapping[str, Any], where: str) -> Distribution:
    if "value" in raw:
        clashing = {"range", "distribution", "mean", "std"} & set(raw)
        if clashing:
            raise SpecError(f"{where}: 'value' cannot be combined with {sorted(clashing)}")
        value = _number(raw["value"], where, "value")
        return Distribution("uniform", value, value)
    kind = _choice(raw.get("distribution", "uniform"), DistributionKind, where, "distribution")
    if kind == "normal":
        return _parse_normal(raw, where)
    if "range" not in raw:
        raise SpecError(f"{where}: field 'range' is required for a {kind} distribution")
    low, high = _parse_range(raw["range"], where)
    if kind == "log_uniform" and low <= 0:
        raise SpecError(f"{where}: field 'range' = {[low, high]} must be > 0 for log_uniform")
    return Distribution(kind, low, high)


def _parse_normal(raw: Mapping[str, Any], where: str) -> Distribution:
    for field in ("mean", "std"):
        if field not in raw:
            raise SpecError(f"{where}: field {field!r} is required for a normal distribution")
    mean, std = _number(raw["mean"], where, "mean"), _number(raw["std"], where, "std")
    if std < 0:
        raise SpecError(f"{where}: field 'std' = {std} must be >= 0")
    low, high = _parse_range(raw["range"], where) if "range" in raw else (-math.inf, math.inf)
    if not low <= mean <= high:
        raise SpecError(f"{where}: field 'mean' = {mean} lies outside range {[low, high]}")
    return Distribution("normal", low, high, mean, std)


def is_list(value: Any) -> bool:
    """A list or tuple (what YAML and Python callers give); text, bytes and other sequences of
    characters or byte values are not lists of numbers."""
    return isinstance(value, list | tuple)


def _parse_range(value: Any, where: str, field: str = "range") -> tuple[float, float]:
    if not is_list(value) or len(value) != 2:
        raise SpecError(f"{where}: field {field!r} = {value!r} must be a list [min, max]")
    low, high = (_number(v, where, field) for v in value)
    if low > high:
        raise SpecError(f"{where}: field {field!r} = {[low, high]} has min > max")
    return low, high


def _parse_selector(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, Sequence) and all(isinstance(v, str) for v in value) and value:
        return tuple(value)
    raise SpecError(f"{where}: field 'selector' = {value!r} must be a name, a glob or a list")


def _parse_interval(value: Any, when: str, where: str) -> float | None:
    if when != "interval":
        if value is not None:
            raise SpecError(f"{where}: field 'interval_s' is only valid with when: interval")
        return None
    if value is None:
        raise SpecError(f"{where}: field 'interval_s' is required with when: interval")
    interval = _number(value, where, "interval_s")
    if interval <= 0:
        raise SpecError(f"{where}: field 'interval_s' = {interval} must be > 0")
    return interval


def _choice(value: Any, options: Any, where: str, field: str) -> Any:
    valid = get_args(options)
    if value not in valid:
        raise SpecError(f"{where}: field {field!r} = {value!r}; valid: {', '.join(valid)}")
    return value


def _number(value: Any, where: str, field: str) -> float:
    """A finite real number; numpy scalars are accepted, booleans and strings are not."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        raise SpecError(f"{where}: field {field!r} = {value!r} must be a number")
    if not math.isfinite(value):
        raise SpecError(f"{where}: field {field!r} = {value!r} must be a finite number")
    return float(value)


def _parse_bool(value: Any, where: str, field: str) -> bool:
    if not isinstance(value, bool):
        raise SpecError(f"{where}: field {field!r} = {value!r} must be true or false")
    return value
