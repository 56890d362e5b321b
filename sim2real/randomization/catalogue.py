"""The catalogue of randomizable parameters: one entry per term, and nothing else to edit.

An entry says everything the engine needs to know about a parameter:

- its *scope*, what users see its elements as (``link``, ``joint``, ``global``,
  ``observation``, ``action``), and ``parts``, which body parts of a model those are (the
  links, the links plus the floor, the actuated joints, every damped joint);
- its *channel*, where a value goes: ``simulator`` values are read from and written to
  PyBullet through the entry's :class:`SimulatorField`; ``actuator``, ``action`` and
  ``observation`` values are consumed by the env's actuator and channels, ``world`` values
  by the env's step loop and reset (control-period jitter, terrain), all of which start
  from the entry's ``default``;
- its physical bounds, and whether it is realized in whole physics or control steps (a
  latency, a sensor delay).

:mod:`sim2real.randomization.apply` loops over this registry, so adding restitution or
rolling friction is one :func:`register_parameter` call (see the tests).

What PyBullet (3.2.x) cannot randomize, and so the catalogue leaves out: a link's centre of
mass and its armature (rotor inertia reflected to the joint). ``changeDynamics`` takes
neither (its keywords are mass, frictions, restitution, damping, contact stiffness,
``localInertiaDiagonal`` and joint limits); the centre of mass of a loaded model is fixed by
its file's ``<inertial><origin>``, and moving it would mean reloading the model, which a
snapshot reset cannot do.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

Scope = Literal["link", "joint", "global", "observation", "action"]
Parts = Literal["links", "links_and_floor", "actuated_joints", "damped_joints"]
Channel = Literal["simulator", "actuator", "action", "observation", "world"]


class BodyPart(NamedTuple):
    name: str
    body: int
    index: int  # link index (-1 = base); for a joint, the index of its child link


@dataclass(frozen=True)
class SimulatorField:
    """How PyBullet reads and writes one parameter of one body part (None for a global)."""

    read: Callable[[Any, BodyPart | None], float]
    write: Callable[[Any, BodyPart | None, float], None]
    # The ``changeDynamics`` keyword ``write`` passes, where that is all it does: the applier
    # merges every such value of one part into a single call (a reset writes several).
    change_dynamics_keyword: str | None = None


@dataclass(frozen=True)
class ParameterDef:
    name: str
    scope: Scope
    unit: str
    description: str
    minimum: float | None = None  # physical lower bound after the operation; None: unbounded
    strictly_positive: bool = False  # minimum itself is not allowed (a zero mass is a static body)
    maximum: float | None = None  # largest physical (or sane) value after the operation
    channel: Channel = "simulator"
    parts: Parts | None = None  # for link/joint scopes: which body parts are the elements
    field: SimulatorField | None = None  # for the simulator channel
    default: float = 0.0  # nominal value of a non-simulator parameter (see rewritten_after)
    global_element: str = "value"  # the single element's name of a global parameter
    # Realized as a whole number of physics steps (a command FIFO) or control steps (an
    # observation FIFO); None: any value.
    step_quantum: Literal["physics", "control"] | None = None
    # Largest value as a number of control steps (a jitter must leave the period positive).
    maximum_control_steps: float | None = None
    # A parameter whose write resets this one to ``default`` on the same part (PyBullet
    # recomputes a link's inertia when its mass is set): its changes rewrite this one too.
    rewritten_after: str | None = None


PARAMETERS: dict[str, ParameterDef] = {}


def register_parameter(definition: ParameterDef) -> ParameterDef:
    """Add a parameter to the catalogue; names are unique."""
    if definition.name in PARAMETERS:
        raise ValueError(f"parameter {definition.name!r} is already registered")
    if (definition.channel == "simulator") != (definition.field is not None):
        raise ValueError(f"{definition.name}: a simulator parameter needs a field, others none")
    if definition.scope in ("link", "joint") and definition.parts is None:
        raise ValueError(f"{definition.name}: a {definition.scope} parameter needs 'parts'")
    PARAMETERS[definition.name] = definition
    return definition


def unregister_parameter(name: str) -> None:
    """Remove a parameter (for tests and plugins that register their own)."""
    PARAMETERS.pop(name, None)


def minimum_violation(definition: ParameterDef, smallest: float) -> str | None:
    """None when ``smallest`` is physical for the parameter, else the rule it breaks (``"> 0"``)."""
    if definition.minimum is None:
        return None
    if definition.strictly_positive:
        return None if smallest > definition.minimum else f"> {definition.minimum:g}"
    return None if smallest >= definition.minimum else f">= {definition.minimum:g}"


def range_violation(
    definition: ParameterDef, smallest: float, largest: float, maximum: float | None = None
) -> str | None:
    """None when every value in [smallest, largest] is physical, else the rule broken.

    ``maximum`` replaces the definition's where a world sets it (a fraction of its step).
    """
    if not (math.isfinite(smallest) and math.isfinite(largest)):
        return "finite"
    maximum = definition.maximum if maximum is None else maximum
    rule = minimum_violation(definition, smallest)
    if rule is None and maximum is not None and largest > maximum:
        rule = f"<= {maximum:g}"
    return rule


def get_parameter(name: str) -> ParameterDef:
    """Look a parameter up by name; unknown names fail with the valid ones listed."""
    try:
        return PARAMETERS[name]
    except KeyError:
        valid = ", ".join(sorted(PARAMETERS))
        raise KeyError(f"unknown parameter {name!r}; valid parameters: {valid}") from None


def dynamics_info_field(position: int, keyword: str) -> SimulatorField:
    """A per-part value PyBullet reports in ``getDynamicsInfo`` and takes in ``changeDynamics``."""
    return SimulatorField(
        read=lambda client, part: client.getDynamicsInfo(part.body, part.index)[position],
        write=lambda client, part, value: client.changeDynamics(
            part.body, part.index, **{keyword: value}
        ),
        change_dynamics_keyword=keyword,
    )


JOINT_DAMPING = SimulatorField(
    read=lambda client, part: client.getJointInfo(part.body, part.index)[6],
    write=lambda client, part, value: client.changeDynamics(
        part.body, part.index, jointDamping=value
    ),
    change_dynamics_keyword="jointDamping",
)


def _loaded_inertia(client: Any, part: BodyPart) -> tuple[tuple[float, ...], float]:
    """A link's inertia diagonal and mass as loaded, cached on the client at first use.

    PyBullet recomputes the diagonal from the collision shapes, in proportion to the mass,
    whenever the mass is set, so the loaded diagonal per kg is the reference every inertia
    scale is relative to. The first use comes from ``read_nominal``, before any write.
    """
    owner = getattr(client, "bullet_client", client)  # a BoundClient shares its client's cache
    cache = vars(owner).setdefault("_sim2real_loaded_inertia", {})
    key = (part.body, part.index)
    if key not in cache:
        mass, _, diagonal = client.getDynamicsInfo(part.body, part.index)[:3]
        cache[key] = (tuple(diagonal), mass)
    return cache[key]


def _read_inertia_scale(client: Any, part: BodyPart) -> float:
    """The diagonal over what the current mass implies (1 as loaded); measured on its largest
    component, the one least affected by rounding."""
    loaded, loaded_mass = _loaded_inertia(client, part)
    mass, _, diagonal = client.getDynamicsInfo(part.body, part.index)[:3]
    axis = max(range(3), key=lambda k: loaded[k])
    if loaded[axis] == 0.0 or mass == 0.0:
        return 1.0  # a massless or static part has no inertia to scale
    return diagonal[axis] * loaded_mass / (mass * loaded[axis])


def _write_inertia_scale(client: Any, part: BodyPart, scale: float) -> None:
    """One factor on all three principal moments: a positive factor keeps the diagonal
    positive and the triangle inequality (I1 + I2 >= I3) holding, as both are homogeneous."""
    loaded, loaded_mass = _loaded_inertia(client, part)
    mass = client.getDynamicsInfo(part.body, part.index)[0]
    factor = scale * mass / loaded_mass if loaded_mass else scale
    client.changeDynamics(
        part.body, part.index, localInertiaDiagonal=[factor * moment for moment in loaded]
    )


LINK_INERTIA = SimulatorField(read=_read_inertia_scale, write=_write_inertia_scale)
GRAVITY = SimulatorField(
    read=lambda client, _: client.getPhysicsEngineParameters()["gravityAccelerationZ"],
    write=lambda client, _, value: client.setGravity(0.0, 0.0, value),
)


for _definition in (
    ParameterDef(
        "link_mass",
        "link",
        "kg",
        "mass of each link (PyBullet rescales its inertia with it)",
        0.0,
        strictly_positive=True,
        maximum=1e6,
        parts="links",
        field=dynamics_info_field(0, "mass"),
    ),
    ParameterDef(
        "link_inertia",
        "link",
        "x",
        "scale of each link's principal moments of inertia (its local inertia diagonal) on "
        "top of what its mass implies (1 = nominal); one factor for all three axes, so the "
        "inertia stays positive and physically valid",
        0.0,
        strictly_positive=True,
        maximum=100.0,
        parts="links",
        field=LINK_INERTIA,
        default=1.0,
        rewritten_after="link_mass",
    ),
    ParameterDef(
        "lateral_friction",
        "link",
        "-",
        "lateral (Coulomb) friction coefficient of each link and the floor",
        0.0,
        parts="links_and_floor",
        field=dynamics_info_field(1, "lateralFriction"),
    ),
    ParameterDef(
        "restitution",
        "link",
        "-",
        "coefficient of restitution (bounciness) of each link and the floor",
        0.0,
        parts="links_and_floor",
        field=dynamics_info_field(5, "restitution"),
    ),
    ParameterDef(
        "rolling_friction",
        "link",
        "m",
        "rolling friction of each link and the floor (resists rolling about contact normals)",
        0.0,
        parts="links_and_floor",
        field=dynamics_info_field(6, "rollingFriction"),
    ),
    ParameterDef(
        "spinning_friction",
        "link",
        "m",
        "spinning (torsional) friction of each link and the floor",
        0.0,
        parts="links_and_floor",
        field=dynamics_info_field(7, "spinningFriction"),
    ),
    ParameterDef(
        "joint_damping",
        "joint",
        "N*m*s/rad",
        "viscous damping of each joint",
        0.0,
        parts="damped_joints",
        field=JOINT_DAMPING,
    ),
    ParameterDef(
        "motor_strength",
        "joint",
        "x",
        "torque scale of each joint's motor (1 = nominal)",
        0.0,
        channel="actuator",
        parts="actuated_joints",
        default=1.0,
    ),
    ParameterDef(
        "joint_friction",
        "joint",
        "N*m",
        "dry (Coulomb) friction torque of each actuated joint",
        0.0,
        channel="actuator",
        parts="actuated_joints",
    ),
    ParameterDef(
        "kp",
        "joint",
        "N*m/rad",
        "PD position gain of each joint (PD-controlled robots)",
        0.0,
        channel="actuator",
        parts="actuated_joints",
    ),
    ParameterDef(
        "kd",
        "joint",
        "N*m*s/rad",
        "PD velocity gain of each joint (PD-controlled robots)",
        0.0,
        channel="actuator",
        parts="actuated_joints",
    ),
    ParameterDef(
        "torque_limit",
        "joint",
        "N*m",
        "largest torque each joint's motor delivers (PD-controlled robots)",
        0.0,
        channel="actuator",
        parts="actuated_joints",
    ),
    ParameterDef(
        "gravity",
        "global",
        "m/s^2",
        "vertical gravity acceleration (negative = down)",
        -100.0,  # about 10 g either way: beyond it no robot stands and contacts explode
        maximum=100.0,
        field=GRAVITY,
        global_element="z",
    ),
    ParameterDef(
        "action_latency_s",
        "global",
        "s",
        "delay between a command and its effect, realized as whole physics steps",
        0.0,
        maximum=1.0,
        channel="actuator",
        global_element="latency",
        step_quantum="physics",
    ),
    ParameterDef(
        "observation_noise_std",
        "observation",
        "obs units",
        "std of zero-mean Gaussian noise added to each observation dimension every step",
        0.0,
        maximum=100.0,  # observations are O(1-10): far beyond it they carry nothing (or inf)
        channel="observation",
    ),
    ParameterDef(
        "observation_delay_s",
        "global",
        "s",
        "age of the observation the policy receives, realized as whole control steps "
        "(sensor lag, separate from the action latency)",
        0.0,
        maximum=1.0,
        channel="observation",
        global_element="delay",
        step_quantum="control",
    ),
    ParameterDef(
        "observation_bias",
        "observation",
        "obs units",
        "constant offset added to each observation dimension (drawn per episode: a "
        "miscalibrated sensor)",
        -100.0,  # as the noise's maximum: observations are O(1-10)
        maximum=100.0,
        channel="observation",
    ),
    ParameterDef(
        "control_jitter_s",
        "global",
        "s",
        "largest deviation of the control period from nominal: each control step lasts "
        "control_dt + u, u drawn uniformly in [-value, value] (a scheduler's jitter); the "
        "physics steps of the control step share it",
        0.0,
        channel="world",
        global_element="jitter",
        maximum_control_steps=0.5,
    ),
    ParameterDef(
        "terrain_roughness_m",
        "global",
        "m",
        "standard deviation of the floor's heights: a seeded random heightfield drawn anew "
        "at every reset (0 = the flat floor)",
        0.0,
        maximum=0.2,
        channel="world",
        global_element="roughness",
    ),
    ParameterDef(
        "action_noise_std",
        "action",
        "action units",
        "std of zero-mean Gaussian noise added to each action dimension before clipping",
        0.0,
        maximum=100.0,  # actions are clipped to bounds of at most 100: beyond, all noise
        channel="action",
    ),
):
    register_parameter(_definition)
