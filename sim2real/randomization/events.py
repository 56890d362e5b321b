"""The catalogue of events: randomization that happens rather than holds a value.

A push is not a parameter of the world but something done to it, at reset or now and then
during an episode (Isaac Lab's event terms, legged_gym's ``push_robots``). An event term in a
spec names one of these, the links it acts on, the axes and the distribution of the
per-axis magnitude, and its schedule; the env draws and fires it with its own seeded stream
and reports it in ``info["events"]``. Adding an event is one :func:`register_event` call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim2real.randomization.catalogue import BodyPart

# (client, part, vector in the world frame, duration of one physics step in s)
EventAction = Callable[[Any, BodyPart, np.ndarray, float], None]


@dataclass(frozen=True)
class EventDef:
    name: str
    unit: str
    description: str
    fire: EventAction


EVENTS: dict[str, EventDef] = {}


def register_event(definition: EventDef) -> EventDef:
    if definition.name in EVENTS:
        raise ValueError(f"event {definition.name!r} is already registered")
    EVENTS[definition.name] = definition
    return definition


def push_impulse(client: Any, part: BodyPart, impulse: np.ndarray, step_s: float) -> None:
    """An impulse (N*s) at the link's centre of mass: a force held for one physics step.

    PyBullet applies an external force over the whole ``stepSimulation`` call, internal
    sub-steps included, and clears it after.
    """
    if part.index == -1:
        position = client.getBasePositionAndOrientation(part.body)[0]
    else:
        position = client.getLinkState(part.body, part.index)[0]
    force = (impulse / step_s).tolist()
    client.applyExternalForce(part.body, part.index, force, position, flags=1)  # WORLD_FRAME


def push_velocity(client: Any, part: BodyPart, change: np.ndarray, step_s: float) -> None:
    """A velocity change (m/s): set on a free base; on a link, its mass times the change."""
    if part.index == -1:
        linear, angular = client.getBaseVelocity(part.body)
        client.resetBaseVelocity(part.body, (np.asarray(linear) + change).tolist(), angular)
        return
    mass = client.getDynamicsInfo(part.body, part.index)[0]
    push_impulse(client, part, mass * change, step_s)


for _definition in (
    EventDef(
        "push_velocity",
        "m/s",
        "velocity change of a link (legged_gym's push): exact on a floating base; on another "
        "link, the impulse that would give the link alone that change",
        push_velocity,
    ),
    EventDef(
        "push_impulse",
        "N*s",
        "impulse at a link's centre of mass over one physics step",
        push_impulse,
    ),
):
    register_event(_definition)
