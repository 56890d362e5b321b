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

Structural problems are caught here; problems that need the model (unknown link names,
values that become non-physical for the nominal values) are caught in
:mod:`sim2real.randomization.binding` when an env is built.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from sim2real.errors import UserError
from sim2real.randomization.catalogue import PARAMETERS
from sim2real.resources import read_yaml, resolve_file

DistributionKind = Literal["uniform", "log_uniform", "normal"]
Operation = Literal["scale", "add", "abs"]
When = Literal["reset", "startup", "interval"]

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
class RandomizationSpec:
    terms: tuple[Term, ...] = ()
    source: str = "<inline>"

    def __bool__(self) -> bool:
        return bool(self.terms)


def load_spec(path: str | Path) -> RandomizationSpec:
    """Read a spec from a YAML file: a path, or the name of a shipped one (``cartpole_dr.yaml``)."""
    try:
        file = resolve_file(path, "randomization")
    except UserError as error:
        raise SpecError(str(error)) from None
    return parse_spec(read_yaml(file), source=str(file))


def parse_spec(data: Any, source: str = "<inline>") -> RandomizationSpec:
    """Build a spec from plain data: ``{"terms": [...]}``, a bare list of terms, or None."""
    if data is None:
        return RandomizationSpec(source=source)
    if isinstance(data, Mapping):
        unknown = set(data) - {"terms", "description"}
        if unknown:
            raise SpecError(
                f"{source}: unknown key(s) {sorted(unknown)}; valid keys: terms, description"
            )
        data = data.get("terms") or []
    if not isinstance(data, Sequence) or isinstance(data, str):
        raise SpecError(f"{source}: 'terms' must be a list of terms, got {type(data).__name__}")
    terms = tuple(_parse_term(raw, f"{source}: term {i}") for i, raw in enumerate(data))
    return RandomizationSpec(terms=terms, source=source)


def _parse_term(raw: Any, where: str) -> Term:
    if not isinstance(raw, Mapping):
        raise SpecError(f"{where}: a term must be a mapping, got {raw!r}")
    unknown = set(raw) - set(_TERM_KEYS)
    if unknown:
        raise SpecError(
            f"{where}: unknown field(s) {sorted(unknown)}; valid: {', '.join(_TERM_KEYS)}"
        )
    parameter = raw.get("parameter")
    if parameter not in PARAMETERS:
        raise SpecError(
            f"{where}: field 'parameter' = {parameter!r} is not in the catalogue; "
            f"valid: {', '.join(sorted(PARAMETERS))}"
        )
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


def _parse_range(value: Any, where: str) -> tuple[float, float]:
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != 2:
        raise SpecError(f"{where}: field 'range' = {value!r} must be a list [min, max]")
    low, high = (_number(v, where, "range") for v in value)
    if low > high:
        raise SpecError(f"{where}: field 'range' = {[low, high]} has min > max")
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
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise SpecError(f"{where}: field {field!r} = {value!r} must be a number")
    return float(value)


def _parse_bool(value: Any, where: str, field: str) -> bool:
    if not isinstance(value, bool):
        raise SpecError(f"{where}: field {field!r} = {value!r} must be true or false")
    return value
