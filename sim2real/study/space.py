"""A study's search space: ranges and choices of dotted keys, sampled by Optuna through Ray
Tune (see :mod:`sim2real.study.tune`); plain data here, no Ray.

``{uniform: [low, high]}``, ``{loguniform: [low, high]}`` (low > 0), ``{int: [low, high]}``
and ``{logint: [low, high]}`` (both bounds included), ``{choice: [values...]}`` (numbers,
strings, booleans or null: what Optuna can choose among).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sim2real.config import FieldPath, Locator

__all__ = ["SEARCH_KINDS", "Dimension", "as_plain", "parse_space"]

SEARCH_KINDS = ("uniform", "loguniform", "int", "logint", "choice")


@dataclass(frozen=True)
class Dimension:
    """One searched key: a range (uniform, loguniform, int, logint) or a list of choices."""

    key: str
    kind: str
    values: tuple[Any, ...]  # (low, high) for ranges

    def extremes(self) -> tuple[Any, ...]:
        return self.values if self.kind == "choice" else (self.values[0], self.values[1])


def parse_space(space: Mapping[str, Mapping[str, Any]], where: Locator) -> tuple[Dimension, ...]:
    """``search.space`` of a study file as dimensions; one line naming a bad one."""
    return tuple(_parse(key, definition, where) for key, definition in space.items())


def _parse(key: str, definition: Mapping[str, Any], where: Locator) -> Dimension:
    field: FieldPath = ("search", "space", key)
    if len(definition) != 1 or next(iter(definition)) not in SEARCH_KINDS:
        raise where.error(
            field, definition, f"give one of {', '.join(SEARCH_KINDS)}, e.g. {{uniform: [0, 1]}}"
        )
    kind, values = next(iter(definition.items()))
    return _dimension(key, kind, values, where, (*field, kind))


def _dimension(
    key: str, kind: str, values: list[Any], where: Locator, field: FieldPath
) -> Dimension:
    if kind == "choice":
        if not values:
            raise where.error(field, values, "give one or more values")
        if not all(
            value is None or isinstance(value, bool | int | float | str) for value in values
        ):
            raise where.error(
                field, values, "Optuna chooses among numbers, strings, booleans or null"
            )
        return Dimension(key, kind, tuple(values))
    numbers = [_integral(v) if kind in ("int", "logint") else v for v in values]
    integral = kind in ("int", "logint")
    number_type = int if integral else (int, float)
    if (
        len(numbers) != 2
        or not all(isinstance(v, number_type) and not isinstance(v, bool) for v in numbers)
        or not all(math.isfinite(v) for v in numbers)
        or not numbers[0] < numbers[1]
    ):
        what = "integers" if integral else "numbers"
        raise where.error(field, values, f"give [low, high], two {what} with low < high")
    if kind.startswith("log") and numbers[0] <= 0:
        raise where.error(field, values, f"{kind} needs low > 0")
    return Dimension(key, kind, tuple(numbers))


def as_plain(value: Any) -> Any:
    """numpy scalars (from a sampler) as Python numbers, so overrides serialize."""
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    return value


def _integral(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
