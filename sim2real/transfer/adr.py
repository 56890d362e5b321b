"""Automatic domain randomization (OpenAI et al. 2019, "Solving Rubik's Cube with a Robot Hand").

Pure Python and numpy: the state of the curriculum, its update rule and the specs it hands
to the training envs; :class:`sim2real.callbacks.adr.AdrCallback` drives it during training.

Every uniform or log-uniform term of the experiment's randomization spec is one ADR
*parameter*. Its draw (the factor of a ``scale`` term, the offset of an ``add`` term, the
value of an ``abs`` term) lives in ``[low, high]``, which starts at the nominal draw (zero
width) or a given fraction of the way to the spec's range, and never leaves the spec's range
(the hard limits) nor crosses the nominal draw. With probability ``boundary_probability`` an
episode pins one parameter at one of its current bounds (chosen uniformly among the bounds
that can move) and the rest are drawn from the current distribution; its return goes to that
bound's buffer. When a buffer holds ``buffer_size`` returns, their mean decides: at least
``threshold_high`` moves the bound out by the parameter's step, at most ``threshold_low``
moves it in, anything between leaves it; then the buffer is cleared (the paper's Algorithm 1).

Terms ADR does not control (fixed values, normal distributions) and events stay as the spec
gives them. A zero-width range is a point mass, whose differential entropy is -inf, so
:meth:`AutomaticDR.entropy` floors each width at ``ENTROPY_FLOOR`` times the parameter's hard
width (see there).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np

from sim2real.errors import UserError
from sim2real.randomization.spec import Distribution, RandomizationSpec, Term

Side = Literal["low", "high"]
SIDES: tuple[Side, Side] = ("low", "high")
ADAPTIVE_KINDS = ("uniform", "log_uniform")
# A zero-width range counts as this fraction of its hard width in the entropy.
ENTROPY_FLOOR = 1e-3
_DIGITS = 12  # bounds are rounded to this many decimals, so repeated steps do not drift


class AdrSettings(Protocol):
    """What the update rule needs of the ``adr:`` config section."""

    boundary_probability: float
    buffer_size: int
    threshold_high: float
    threshold_low: float


@dataclass(frozen=True)
class AdrParameter:
    """One randomized term under ADR: where its draw starts and how far it may go."""

    name: str
    term: int  # index into the spec's terms
    center: float  # the nominal draw, inside the hard limits
    hard_low: float
    hard_high: float
    step: float

    @property
    def movable_sides(self) -> tuple[Side, ...]:
        """The bounds that can leave the center (a center at a hard limit pins that side)."""
        sides: list[Side] = []
        if self.hard_low < self.center:
            sides.append("low")
        if self.hard_high > self.center:
            sides.append("high")
        return tuple(sides)


@dataclass(frozen=True)
class Assignment:
    """What one episode runs with: the whole distribution, or one bound pinned."""

    parameter: str | None = None
    side: Side | None = None
    value: float | None = None

    @property
    def is_boundary(self) -> bool:
        return self.parameter is not None


DISTRIBUTION = Assignment()


@dataclass(frozen=True)
class Decision:
    """A full buffer's verdict on one bound."""

    parameter: str
    side: Side
    mean_return: float
    before: float
    after: float

    @property
    def move(self) -> Literal["out", "in", "stay"]:
        if self.after == self.before:
            return "stay"
        outward = self.after < self.before if self.side == "low" else self.after > self.before
        return "out" if outward else "in"


def is_adaptive(term: Term) -> bool:
    """ADR widens uniform and log-uniform ranges; fixed values and normals stay as given."""
    return term.distribution.kind in ADAPTIVE_KINDS and not term.distribution.is_constant


def parameter_names(spec: RandomizationSpec) -> dict[int, str]:
    """``{term index: name}`` of the terms ADR controls: ``parameter[:selector,...]``, with
    ``#<term index>`` appended where two terms would share a name."""
    names = {
        index: term.parameter + (":" + ",".join(term.selector) if term.selector else "")
        for index, term in enumerate(spec.terms)
        if is_adaptive(term)
    }
    counts: dict[str, int] = {}
    for name in names.values():
        counts[name] = counts.get(name, 0) + 1
    return {
        index: name if counts[name] == 1 else f"{name}#{index}" for index, name in names.items()
    }


def make_parameters(
    spec: RandomizationSpec,
    centers: Mapping[int, float],
    step_fraction: float,
    steps: Mapping[str, float],
    quanta: Mapping[int, float] | None = None,
) -> list[AdrParameter]:
    """The ADR parameters of ``spec``.

    ``centers``: the nominal draw per term index (1 for ``scale``, 0 for ``add``, the nominal
    value for ``abs``), clipped into the spec's range here. The step is ``steps[name]``, else
    ``step_fraction`` of the spec's range; ``quanta`` (per term index, seconds) rounds it to a
    whole number (>= 1) of simulator steps for values realized in steps (latencies).
    """
    quanta = quanta or {}
    parameters = []
    for index, name in parameter_names(spec).items():
        distribution = spec.terms[index].distribution
        low, high = distribution.low, distribution.high
        step = steps.get(name, step_fraction * (high - low))
        quantum = quanta.get(index)
        if quantum:  # a given step too: latencies move in whole steps (at least one)
            step = max(1, round(step / quantum)) * quantum
        center = float(np.clip(centers[index], low, high))
        parameters.append(AdrParameter(name, index, center, low, high, _rounded(step)))
    return parameters


def initial_bounds(
    parameters: Sequence[AdrParameter],
    fraction: float,
    quanta: Mapping[int, float] | None = None,
    given: Mapping[str, Sequence[float]] | None = None,
) -> dict[str, tuple[float, float]]:
    """Bounds ``fraction`` of the way from the center to each hard limit (0: the center), or
    the range ``given`` for a parameter, widened to hold the center as every ADR range does;
    with a quantum, rounded to a whole number of steps inside the hard limits."""
    quanta = quanta or {}
    given = given or {}
    bounds = {}
    for parameter in parameters:
        low = parameter.center - fraction * (parameter.center - parameter.hard_low)
        high = parameter.center + fraction * (parameter.hard_high - parameter.center)
        if parameter.name in given:
            low, high = given[parameter.name]
        quantum = quanta.get(parameter.term)
        if quantum:
            low, high = (round(value / quantum) * quantum for value in (low, high))
        bounds[parameter.name] = _within(parameter, low, high)
    return bounds


class AutomaticDR:
    """Bounds and return buffers of every ADR parameter, and the update rule."""

    def __init__(
        self,
        spec: RandomizationSpec,
        parameters: Sequence[AdrParameter],
        settings: AdrSettings,
        bounds: Mapping[str, tuple[float, float]] | None = None,
    ):
        if not parameters:
            raise UserError(
                f"{spec.source}: no uniform or log-uniform range for ADR to widen "
                "(fixed values, normal distributions and events stay as given)"
            )
        self.spec = spec
        self.parameters = {parameter.name: parameter for parameter in parameters}
        self.settings = settings
        start = bounds if bounds is not None else initial_bounds(parameters, 0.0)
        self.bounds: dict[str, list[float]] = {name: list(start[name]) for name in self.parameters}
        self.buffers: dict[str, dict[Side, list[float]]] = {
            name: {"low": [], "high": []} for name in self.parameters
        }
        self._sides = [(p.name, side) for p in parameters for side in p.movable_sides]

    # -- what the envs run ---------------------------------------------------------------

    def sample_assignment(self, rng: np.random.Generator) -> Assignment:
        """With probability ``boundary_probability`` one movable bound, chosen uniformly."""
        if not self._sides or rng.random() >= self.settings.boundary_probability:
            return DISTRIBUTION
        name, side = self._sides[int(rng.integers(len(self._sides)))]
        return Assignment(name, side, self.bound(name, side))

    def episode_spec(self, assignment: Assignment = DISTRIBUTION) -> RandomizationSpec:
        """The spec with every ADR term at its current bounds, the assigned one pinned."""
        terms = list(self.spec.terms)
        for name, parameter in self.parameters.items():
            low, high = self.bounds[name]
            if assignment.parameter == name:
                assert assignment.value is not None
                low = high = assignment.value
            old = terms[parameter.term].distribution
            distribution = Distribution(old.kind, low, high)
            terms[parameter.term] = dataclasses.replace(
                terms[parameter.term], distribution=distribution
            )
        return dataclasses.replace(self.spec, terms=tuple(terms))

    # -- the update rule -----------------------------------------------------------------

    def bound(self, name: str, side: Side) -> float:
        return self.bounds[name][SIDES.index(side)]

    def record(self, assignment: Assignment, episode_return: float) -> Decision | None:
        """Add a boundary episode's return to its buffer; a full buffer decides and is cleared.

        A return whose bound has moved since the episode was assigned (envs run one episode
        ahead of the update) is dropped: it measured a bound that no longer exists.
        """
        if not assignment.is_boundary:
            return None
        name, side = assignment.parameter, assignment.side
        assert name is not None and side is not None
        before = self.bound(name, side)
        if before != assignment.value:
            return None
        buffer = self.buffers[name][side]
        buffer.append(float(episode_return))
        if len(buffer) < self.settings.buffer_size:
            return None
        mean = float(np.mean(buffer))
        buffer.clear()
        if mean >= self.settings.threshold_high:
            self._move(name, side, outward=True)
        elif mean <= self.settings.threshold_low:
            self._move(name, side, outward=False)
        return Decision(name, side, mean, before, self.bound(name, side))

    def _move(self, name: str, side: Side, outward: bool) -> None:
        parameter = self.parameters[name]
        low, high = self.bounds[name]
        step = parameter.step if outward else -parameter.step
        if side == "low":
            low -= step
        else:
            high += step
        self.bounds[name] = list(_within(parameter, low, high))

    # -- progress ------------------------------------------------------------------------

    def entropy(self) -> float:
        """ADR's progress measure: the sum over parameters of log(width), nats.

        The entropy of a uniform distribution over the box of current ranges (in each
        parameter's draw units). A zero-width range has entropy -inf, so each width is
        floored at ``ENTROPY_FLOOR`` x its hard width: the entropy is finite from the start and
        grows as ranges open. (Log-uniform terms count their linear width too.)
        """
        total = 0.0
        for name, parameter in self.parameters.items():
            low, high = self.bounds[name]
            floor = ENTROPY_FLOOR * (parameter.hard_high - parameter.hard_low)
            total += math.log(max(high - low, floor))
        return total

    def width_fraction(self) -> float:
        """Mean over parameters of the current width / the hard width (1: the whole spec)."""
        fractions = [
            (self.bounds[name][1] - self.bounds[name][0]) / (p.hard_high - p.hard_low)
            for name, p in self.parameters.items()
        ]
        return float(np.mean(fractions))

    # -- state ---------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Plain data: the parameters, their bounds and buffers (JSON-ready, a copy)."""
        return {
            "parameters": [dataclasses.asdict(p) for p in self.parameters.values()],
            "bounds": {name: list(bounds) for name, bounds in self.bounds.items()},
            "buffers": {
                name: {side: list(returns) for side, returns in buffers.items()}
                for name, buffers in self.buffers.items()
            },
        }

    @classmethod
    def from_state(
        cls, spec: RandomizationSpec, settings: AdrSettings, state: Any, where: str
    ) -> AutomaticDR:
        """The inverse of :meth:`state_dict`, checked against ``spec``; ``where`` names the file."""
        try:
            parameters = [AdrParameter(**raw) for raw in state["parameters"]]
            bounds = {name: (float(b[0]), float(b[1])) for name, b in state["bounds"].items()}
            buffers = {
                name: {side: [float(r) for r in sides.get(side, [])] for side in SIDES}
                for name, sides in state["buffers"].items()
            }
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as error:
            raise UserError(
                f"{where}: not an ADR state ({type(error).__name__}: {error})"
            ) from None
        adr = cls(spec, parameters, settings)
        adr.bounds = {name: list(bounds.get(name, (math.nan, math.nan))) for name in adr.parameters}
        adr._check_against(spec, where)
        for name in adr.parameters:
            for side in SIDES:
                adr.buffers[name][side] = buffers.get(name, {}).get(side, [])
        return adr

    def _check_against(self, spec: RandomizationSpec, where: str) -> None:
        expected = parameter_names(spec)
        found = {p.term: name for name, p in self.parameters.items()}
        if found != expected:
            raise UserError(
                f"{where}: its ADR parameters {sorted(found.values())} are not those of the "
                f"run's randomization spec {sorted(expected.values())}"
            )
        for name, parameter in self.parameters.items():
            distribution = spec.terms[parameter.term].distribution
            low, high = self.bounds[name]
            inside = parameter.hard_low <= low <= parameter.center <= high <= parameter.hard_high
            same_limits = (parameter.hard_low, parameter.hard_high) == (
                distribution.low,
                distribution.high,
            )
            if not (inside and same_limits):
                raise UserError(
                    f"{where}: bounds of {name} = {[low, high]} leave the spec's range "
                    f"[{distribution.low:g}, {distribution.high:g}] or exclude the nominal "
                    f"{parameter.center:g}; the file is damaged"
                )


def _within(parameter: AdrParameter, low: float, high: float) -> tuple[float, float]:
    """Bounds rounded (no drift over many steps), then inside the hard limits and around the
    center, which they reach exactly."""
    low = float(np.clip(_rounded(low), parameter.hard_low, parameter.center))
    high = float(np.clip(_rounded(high), parameter.center, parameter.hard_high))
    return low, high


def _rounded(value: float) -> float:
    return round(float(value), _DIGITS)
