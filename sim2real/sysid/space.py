"""The search space of system identification: one coordinate per element a spec randomizes.

A spec term ``link_mass [thigh, leg] scale [0.8, 1.25]`` gives two coordinates, each with
absolute bounds computed from the env's nominal values. Only values that shape the measured
motion and can be searched continuously are coordinates: simulator and actuator parameters
not realized in whole steps. A ranged action latency is not a coordinate either: it takes
whole physics steps, so each of them is tried (:attr:`SearchSpace.latencies`). Sensor noise,
bias and delay (the observation, not the motion) and action noise (random) are held at their
nominal values; a zero-width term of the motion (a known latency, say) holds its value.
The optimizer works in the unit cube: ``u = (value - low) / (high - low)``.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim2real.errors import UserError
from sim2real.randomization import RandomizationSpec, bind, get_parameter
from sim2real.randomization.dynamics import NamedDynamics
from sim2real.randomization.sampling import operate

__all__ = ["Coordinate", "SearchSpace", "identifiable", "search_space"]


@dataclass(frozen=True)
class Coordinate:
    parameter: str
    element: str
    low: float  # absolute bounds of the spec's range for this element
    high: float
    nominal: float
    term: int  # index of the spec term it comes from
    single: bool  # the parameter has one element (named without it)

    @property
    def name(self) -> str:
        return self.parameter if self.single else f"{self.parameter}:{self.element}"


@dataclass(frozen=True)
class SearchSpace:
    coordinates: tuple[Coordinate, ...]
    held: tuple[str, ...]  # spec parameters held at nominal (not identifiable this way)
    fixed: NamedDynamics  # values of zero-width motion terms (e.g. a known latency), applied
    term_elements: tuple[tuple[str, ...], ...]  # elements each spec term randomizes
    latencies: tuple[float, ...] = ()  # whole-step latencies to try, when the spec ranges one

    def with_latency(self, latency: float) -> SearchSpace:
        """This space with the action latency fixed (one of :attr:`latencies`)."""
        fixed = {**self.fixed, LATENCY: {"latency": latency}}
        return dataclasses.replace(self, fixed=fixed, latencies=())

    @property
    def size(self) -> int:
        return len(self.coordinates)

    @property
    def low(self) -> np.ndarray:
        return np.array([c.low for c in self.coordinates])

    @property
    def high(self) -> np.ndarray:
        return np.array([c.high for c in self.coordinates])

    @property
    def nominal(self) -> np.ndarray:
        return np.array([c.nominal for c in self.coordinates])

    def to_values(self, unit: np.ndarray) -> np.ndarray:
        """Unit-cube point -> absolute values."""
        return self.low + np.clip(unit, 0.0, 1.0) * (self.high - self.low)

    def to_unit(self, values: np.ndarray) -> np.ndarray:
        return (np.asarray(values) - self.low) / (self.high - self.low)

    def scale_directions(self, unit: np.ndarray) -> list[np.ndarray]:
        """Unit-cube directions that scale every force-like value at ``unit`` by one factor.

        Rigid-body motion is unchanged when masses and every force and torque scale together
        (M q'' = tau - D q' + contact forces, gravity and friction cones all proportional to
        mass), so data cannot fix that common scale. The torque scale is the motor strength,
        or, for a PD actuator, its gains; limits, damping and dry friction scale as torques.
        """
        values = self.to_values(unit)
        widths = self.high - self.low
        directions = []
        for torque_scale in _TORQUE_SCALES:
            chosen = _SCALED_WITH_MASS + torque_scale
            mask = np.array([c.parameter in chosen for c in self.coordinates])
            if mask.any() and any(c.parameter == "link_mass" for c in self.coordinates):
                direction = np.where(mask, values / widths, 0.0)
                if np.linalg.norm(direction) > 0:
                    directions.append(direction / np.linalg.norm(direction))
        return directions

    def named(self, values: Sequence[float]) -> NamedDynamics:
        """Absolute values as ``set_dynamics`` takes them."""
        named: dict[str, Any] = {}
        for coordinate, value in zip(self.coordinates, values, strict=True):
            named.setdefault(coordinate.parameter, {})[coordinate.element] = float(value)
        return named


LATENCY = "action_latency_s"
# Parameters that scale with the masses in the scale symmetry of rigid-body motion, and the
# alternative torque scales of an actuator (scaling both would scale torques twice).
_SCALED_WITH_MASS = ("link_mass", "joint_damping", "joint_friction", "torque_limit")
_TORQUE_SCALES = (("motor_strength",), ("kp", "kd"))
MAX_LATENCIES = 8
_MOTION = ("simulator", "actuator")  # channels whose values shape the measured motion


def identifiable(parameter: str) -> bool:
    """A value of the simulated motion that varies continuously (see the module docstring)."""
    definition = get_parameter(parameter)
    return definition.channel in _MOTION and definition.step_quantum is None


def search_space(env: Any, spec: RandomizationSpec, params: Sequence[str] = ()) -> SearchSpace:
    """Coordinates for ``params`` (``NAME`` or ``NAME:ELEMENT``; default: every identifiable
    element the spec randomizes) with bounds from ``spec``, bound to ``env`` (unwrapped).

    Zero-width terms are not coordinates. Bad names are a one-line :class:`UserError`.
    """
    bound = bind(spec, env.layout, env.nominal, env.control_dt, env.physics_dt)
    candidates: dict[str, Coordinate] = {}
    held: list[str] = []
    fixed: dict[str, Any] = {}
    latencies: tuple[float, ...] = ()
    for term in bound.terms:
        parameter = term.term.parameter
        names = env.layout.names(parameter)
        nominal = np.asarray(env.nominal[parameter])[term.indices]
        distribution = term.term.distribution
        ends = [
            operate(term.term.operation, nominal, np.full(len(nominal), end))
            for end in (distribution.low, distribution.high)
        ]
        if distribution.is_constant and get_parameter(parameter).channel in _MOTION:
            elements = fixed.setdefault(parameter, {})
            values = ends[0].tolist()
            elements.update({names[i]: v for i, v in zip(term.indices, values, strict=True)})
            continue
        if parameter == LATENCY:
            latencies = _whole_steps(min(ends[0][0], ends[1][0]), max(ends[0][0], ends[1][0]), env)
            continue
        if not identifiable(parameter):
            held.append(parameter)
            continue
        for i, index in enumerate(term.indices.tolist()):
            low, high = sorted((float(ends[0][i]), float(ends[1][i])))
            coordinate = Coordinate(
                parameter, names[index], low, high, float(nominal[i]), term.index, len(names) == 1
            )
            if coordinate.name in candidates:
                raise UserError(
                    f"{spec.source}: {coordinate.name} is randomized by terms "
                    f"{candidates[coordinate.name].term} and {term.index}; identify reads one "
                    "range per element: give a spec with one term for it"
                )
            if high > low:
                candidates[coordinate.name] = coordinate
    wants_latency = not params or any(p.partition(":")[0] == LATENCY for p in params)
    if latencies and not wants_latency:
        held.append(LATENCY)
        latencies = ()
    if params and LATENCY in params and not latencies:
        raise UserError(f"--params {LATENCY}: {spec.source} gives it no range to search")
    continuous = [p for p in params if p.partition(":")[0] != LATENCY]
    if params and not continuous:
        valid = ", ".join(sorted({c.parameter for c in candidates.values()})) or "none"
        raise UserError(
            f"--params {' '.join(params)}: identify fits the latency together with at least "
            f"one continuous value; add one of: {valid}"
        )
    chosen = _select(candidates, continuous, spec.source, held)
    if not chosen:
        raise UserError(
            f"{spec.source}: randomizes nothing identify can fit (identifiable: masses, "
            "friction, damping, gravity and actuator values with a range)"
        )
    elements = tuple(
        tuple(env.layout.names(t.term.parameter)[i] for i in t.indices.tolist())
        for t in bound.terms
    )
    return SearchSpace(tuple(chosen), tuple(dict.fromkeys(held)), fixed, elements, latencies)


def _whole_steps(low: float, high: float, env: Any) -> tuple[float, ...]:
    """Every latency of whole physics steps in [low, high]: the values a ranged one can take."""
    dt = env.physics_dt
    steps = range(math.ceil(low / dt - 1e-9), math.floor(high / dt + 1e-9) + 1)
    if len(steps) > MAX_LATENCIES:
        raise UserError(
            f"{LATENCY} ranges over {len(steps)} physics steps; identify tries each (at most "
            f"{MAX_LATENCIES}): narrow its range or fix it in the spec"
        )
    return tuple(step * dt for step in steps)


def _select(
    candidates: Mapping[str, Coordinate], params: Sequence[str], source: str, held: Sequence[str]
) -> list[Coordinate]:
    if not params:
        return list(candidates.values())
    chosen: dict[str, Coordinate] = {}
    for name in params:
        parameter, _, element = name.partition(":")
        matches = [
            c
            for c in candidates.values()
            if c.parameter == parameter and (not element or fnmatch.fnmatchcase(c.element, element))
        ]
        if not matches:
            valid = ", ".join(sorted({c.parameter for c in candidates.values()}))
            why = " (held at nominal: not identifiable from motion)" if parameter in held else ""
            raise UserError(
                f"--params {name}: not a ranged, identifiable parameter of {source}{why}; "
                f"valid: {valid or 'none'} (NAME or NAME:ELEMENT)"
            )
        chosen.update({c.name: c for c in matches})
    return list(chosen.values())
