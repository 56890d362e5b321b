"""The catalogue of randomizable parameters: one registry, so a new term is added in one place.

Each parameter has a *scope* that says what its elements are:

- ``link``: one value per robot link (plus the floor where it applies),
- ``joint``: one value per actuated joint, in action order,
- ``global``: a single value,
- ``observation`` / ``action``: one value per observation / action dimension.

Parameters consumed by PyBullet (``applies_in_simulator``) are written by
:func:`sim2real.randomization.apply.apply_dynamics`; the others (motor strength, latency,
noise) are read by the env's step loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Scope = Literal["link", "joint", "global", "observation", "action"]


@dataclass(frozen=True)
class ParameterDef:
    name: str
    scope: Scope
    unit: str
    description: str
    minimum: float | None = None  # physical lower bound after the operation; None: unbounded
    strictly_positive: bool = False  # minimum itself is not allowed (a zero mass is a static body)
    applies_in_simulator: bool = True
    includes_floor: bool = False  # the floor is one of the link elements


PARAMETERS: dict[str, ParameterDef] = {}


def register_parameter(definition: ParameterDef) -> ParameterDef:
    """Add a parameter to the catalogue; names are unique."""
    if definition.name in PARAMETERS:
        raise ValueError(f"parameter {definition.name!r} is already registered")
    PARAMETERS[definition.name] = definition
    return definition


def minimum_violation(definition: ParameterDef, smallest: float) -> str | None:
    """None when ``smallest`` is physical for the parameter, else the rule it breaks (``"> 0"``)."""
    if definition.minimum is None:
        return None
    if definition.strictly_positive:
        return None if smallest > definition.minimum else f"> {definition.minimum:g}"
    return None if smallest >= definition.minimum else f">= {definition.minimum:g}"


def get_parameter(name: str) -> ParameterDef:
    """Look a parameter up by name; unknown names fail with the valid ones listed."""
    try:
        return PARAMETERS[name]
    except KeyError:
        valid = ", ".join(sorted(PARAMETERS))
        raise KeyError(f"unknown parameter {name!r}; valid parameters: {valid}") from None


for _definition in (
    ParameterDef("link_mass", "link", "kg", "mass of each link", 0.0, strictly_positive=True),
    ParameterDef(
        "lateral_friction",
        "link",
        "-",
        "lateral (Coulomb) friction coefficient of each link and the floor",
        0.0,
        includes_floor=True,
    ),
    ParameterDef("joint_damping", "joint", "N*m*s/rad", "viscous damping of each joint", 0.0),
    ParameterDef(
        "motor_strength",
        "joint",
        "x",
        "torque scale of each joint's motor (1 = nominal)",
        0.0,
        applies_in_simulator=False,
    ),
    ParameterDef("gravity", "global", "m/s^2", "vertical gravity acceleration (negative = down)"),
    ParameterDef(
        "action_latency_s",
        "global",
        "s",
        "delay between a command and its effect, realized as whole control steps",
        0.0,
        applies_in_simulator=False,
    ),
    ParameterDef(
        "observation_noise_std",
        "observation",
        "obs units",
        "std of zero-mean Gaussian noise added to each observation dimension every step",
        0.0,
        applies_in_simulator=False,
    ),
    ParameterDef(
        "action_noise_std",
        "action",
        "action units",
        "std of zero-mean Gaussian noise added to each action dimension before clipping",
        0.0,
        applies_in_simulator=False,
    ),
):
    register_parameter(_definition)
