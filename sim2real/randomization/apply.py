"""The only code that writes sampled dynamics into PyBullet (and reads the nominal values).

Every function here loops over the catalogue: a parameter's elements, how its nominal value
is read and how a value is written all come from its :class:`ParameterDef`. Parameters of
the other channels (actuator, action, observation) are carried in the same
:data:`Dynamics` and consumed by the env's actuator and channels.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim2real.randomization.catalogue import PARAMETERS, BodyPart, ParameterDef, Parts
from sim2real.randomization.dynamics import Dynamics, DynamicsLayout


@dataclass(frozen=True)
class ModelHandles:
    """PyBullet ids of a model's parts: what DR writes to, what events and rewards name."""

    links: tuple[BodyPart, ...]  # randomizable links (masses, friction)
    joints: tuple[BodyPart, ...]  # actuated joints, in action order
    floor: BodyPart | None = None
    passive_joints: tuple[BodyPart, ...] = ()  # unactuated joints whose damping is randomizable
    base: BodyPart | None = None  # the robot's base (torso): where pushes land by default
    feet: tuple[BodyPart, ...] = ()  # links whose floor contacts the task reads

    @property
    def main_part(self) -> BodyPart:
        """The base, or the first actuated joint for a model without one (its ``body`` is the
        robot's body id either way)."""
        return self.base if self.base is not None else self.joints[0]

    def parts(self, which: Parts) -> tuple[BodyPart, ...]:
        if which == "links":
            return self.links
        if which == "links_and_floor":
            return self.links + ((self.floor,) if self.floor is not None else ())
        if which == "actuated_joints":
            return self.joints
        return self.joints + self.passive_joints

    def link(self, name: str) -> BodyPart:
        """A named part among links, base, feet and floor; KeyError lists the valid names."""
        named = {part.name: part for part in self.named_links()}
        if name not in named:
            raise KeyError(f"unknown link {name!r}; valid: {', '.join(named)}")
        return named[name]

    def named_links(self) -> tuple[BodyPart, ...]:
        """Every distinct link an event may act on: the base first, then links and feet."""
        seen: dict[str, BodyPart] = {}
        for part in ((self.base,) if self.base else ()) + self.links + self.feet:
            seen.setdefault(part.name, part)
        return tuple(seen.values())


@dataclass(frozen=True)
class ModelNames:
    """Names of a world's non-body elements, and what it leaves out of the catalogue."""

    observation: tuple[str, ...]
    action: tuple[str, ...]
    actuator_parameters: Collection[str]  # catalogue parameters the robot's actuator consumes
    unsupported: Collection[str] = ()  # parameters with no effect in this world


def dynamics_layout(handles: ModelHandles, names: ModelNames) -> DynamicsLayout:
    """Element names per catalogue parameter, leaving out what has no effect in this world."""
    elements: dict[str, tuple[str, ...]] = {}
    for definition in PARAMETERS.values():
        if definition.name in names.unsupported:
            continue
        if definition.channel == "actuator" and definition.name not in names.actuator_parameters:
            continue
        found = _element_names(definition, handles, names)
        if found:
            elements[definition.name] = found
    return DynamicsLayout(elements, tuple(part.name for part in handles.named_links()))


def read_nominal(client: Any, handles: ModelHandles, layout: DynamicsLayout) -> Dynamics:
    """Nominal values: simulator ones as loaded from the model file, the rest the defaults."""
    nominal: Dynamics = {}
    for name, elements in layout.elements.items():
        definition = PARAMETERS[name]
        if definition.field is None:
            nominal[name] = np.full(len(elements), definition.default)
        else:
            read = definition.field.read
            parts = _parts(definition, handles)
            nominal[name] = np.array([read(client, part) for part in parts], dtype=np.float64)
    return nominal


def apply_dynamics(
    client: Any,
    handles: ModelHandles,
    values: Mapping[str, np.ndarray],
    applied: Mapping[str, np.ndarray],
) -> None:
    """Write into the simulator every simulator value that differs from what is ``applied``.

    An array that *is* the applied one (a parameter no term redrew) is skipped unexamined.
    Values written by a ``changeDynamics`` keyword go first, one call per body part with all
    of its keywords; the other fields follow in catalogue order (a link's inertia scale reads
    the mass just written). A parameter ``rewritten_after`` another is also rewritten where
    that one changed (the write reset it to its default).
    """
    changed: dict[str, list[int]] = {}
    keywords: dict[tuple[int, int], dict[str, float]] = {}
    other_writes: list[tuple[Callable[[Any, BodyPart | None, float], None], Any, float]] = []
    for name, array in values.items():
        definition = PARAMETERS[name]
        field = definition.field
        if field is None:
            continue
        previous = applied[name]
        # Lists, not numpy: a handful of elements per parameter.
        now = array.tolist()
        indices = [] if array is previous else _differing(now, previous.tolist())
        if definition.rewritten_after in changed:
            reset = changed[definition.rewritten_after]  # now at default: nothing to do there
            indices = sorted(set(indices).union(i for i in reset if now[i] != definition.default))
        if not indices:
            continue
        changed[name] = indices
        parts = _parts(definition, handles)
        keyword = field.change_dynamics_keyword
        for i in indices:
            part = parts[i]
            if keyword is not None and part is not None:
                keywords.setdefault((part.body, part.index), {})[keyword] = now[i]
            else:
                other_writes.append((field.write, part, now[i]))
    for (body, index), arguments in keywords.items():
        client.changeDynamics(body, index, **arguments)
    for write, part, value in other_writes:
        write(client, part, value)


def _differing(now: list[float], before: list[float]) -> list[int]:
    return [i for i, (a, b) in enumerate(zip(now, before, strict=True)) if a != b]


def read_simulator_dynamics(client: Any, handles: ModelHandles, layout: DynamicsLayout) -> Dynamics:
    """What PyBullet holds now for every simulator parameter, to check values really landed."""
    held: Dynamics = {}
    for name in layout.elements:
        definition = PARAMETERS[name]
        if definition.field is not None:
            parts = _parts(definition, handles)
            held[name] = np.array([definition.field.read(client, part) for part in parts])
    return held


def _parts(definition: ParameterDef, handles: ModelHandles) -> tuple[BodyPart | None, ...]:
    if definition.parts is None:
        return (None,)
    return handles.parts(definition.parts)


def _element_names(
    definition: ParameterDef, handles: ModelHandles, names: ModelNames
) -> tuple[str, ...]:
    if definition.scope == "observation":
        return names.observation
    if definition.scope == "action":
        return names.action
    if definition.parts is None:
        return (definition.global_element,)
    return tuple(part.name for part in handles.parts(definition.parts))
