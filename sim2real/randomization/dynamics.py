"""Dynamics values: one float array per catalogue parameter, with named elements.

``Dynamics`` maps a parameter name to an array whose entries follow the element names
of the env's :class:`DynamicsLayout` (links, joints, observation dimensions, ...).
The named form ``{"link_mass": {"torso": 3.5, ...}, "gravity": -9.8}`` is what users
read in ``info["dynamics"]``, write in target files and pass to ``set_dynamics``.
"""

from __future__ import annotations

import functools
import numbers
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from sim2real.randomization.catalogue import get_parameter
from sim2real.randomization.spec import SpecError, is_list

Dynamics = dict[str, np.ndarray]
NamedDynamics = dict[str, "float | dict[str, float]"]


@dataclass(frozen=True)
class DynamicsLayout:
    """Element names of every parameter an env supports, e.g. ``{"link_mass": ("torso", ...)}``."""

    elements: Mapping[str, tuple[str, ...]]
    event_links: tuple[str, ...] = ()  # links events may act on, the robot's base first

    def names(self, parameter: str) -> tuple[str, ...]:
        get_parameter(parameter)
        if parameter not in self.elements:
            valid = ", ".join(sorted(self.elements))
            raise KeyError(
                f"parameter {parameter!r} is not randomizable in this env; valid: {valid}"
            )
        return self.elements[parameter]

    @functools.cached_property
    def named_elements(self) -> dict[str, tuple[str, ...] | None]:
        """Element names per parameter, None for a global one (a plain float when named)."""
        return {
            parameter: None if get_parameter(parameter).scope == "global" else names
            for parameter, names in self.elements.items()
        }


def copy_dynamics(values: Mapping[str, np.ndarray]) -> Dynamics:
    return {name: np.asarray(array, dtype=np.float64).copy() for name, array in values.items()}


def to_named(values: Mapping[str, np.ndarray], layout: DynamicsLayout) -> NamedDynamics:
    """Arrays -> JSON-ready named values (a fresh structure); globals become plain floats."""
    named: NamedDynamics = {}
    elements = layout.named_elements
    for parameter, array in values.items():
        names = elements[parameter] if parameter in elements else layout.names(parameter)
        if names is None:
            named[parameter] = float(array[0])
        else:
            named[parameter] = dict(zip(names, array.tolist(), strict=True))
    return named


def from_named(
    named: Mapping[str, object],
    layout: DynamicsLayout,
    base: Mapping[str, np.ndarray],
    where: str = "dynamics",
) -> Dynamics:
    """Named values -> arrays, starting from ``base`` for whatever ``named`` leaves out.

    A parameter may be given as one number (every element), as ``{element: number}`` or as a
    sequence/array of one number per element in layout order; numpy scalars are numbers.
    Anything else raises :class:`SpecError` naming ``where``, the field and the valid names;
    ``base`` is never modified.
    """
    if not isinstance(named, Mapping):
        raise SpecError(f"{where}: expected a mapping of parameter names, got {_short(named)}")
    values = copy_dynamics(base)
    for parameter, given in named.items():
        if parameter not in layout.elements:
            valid = ", ".join(sorted(layout.elements))
            raise SpecError(f"{where}: unknown parameter {parameter!r}; valid: {valid}")
        elements = layout.elements[parameter]
        field = f"{where}: field {parameter!r}"
        if isinstance(given, Mapping):
            for element, value in given.items():
                if element not in elements:
                    raise SpecError(
                        f"{field}: unknown element {element!r}; valid: {', '.join(elements)}"
                    )
                values[parameter][elements.index(element)] = _real(value, f"{field}[{element!r}]")
        elif _is_real(given):
            values[parameter][:] = float(given)  # type: ignore[arg-type]
        elif isinstance(given, np.ndarray) or is_list(given):
            if np.ndim(given) != 1 or len(given) != len(elements):
                raise SpecError(
                    f"{field} = {_short(given)} must hold {len(elements)} number(s), one per "
                    f"element: {', '.join(elements)}"
                )
            values[parameter][:] = [_real(v, field) for v in given]
        else:
            raise SpecError(
                f"{field} = {_short(given)} must be a number, {{element: number}} or a list "
                f"of {len(elements)} number(s)"
            )
    return values


def _is_real(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)


def _real(value: object, field: str) -> float:
    if not _is_real(value):
        raise SpecError(f"{field} = {_short(value)} must be a number")
    return float(value)  # type: ignore[arg-type]


def _short(value: object, limit: int = 60) -> str:
    text = " ".join(repr(value).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
