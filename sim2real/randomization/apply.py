"""The only code that writes sampled dynamics into PyBullet (and reads the nominal values).

Parameters that are not simulator state (motor strength, latency, noise) are carried in
the same :data:`Dynamics` and consumed by the env's step loop.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from sim2real.randomization.dynamics import Dynamics, DynamicsLayout


class BodyPart(NamedTuple):
    name: str
    body: int
    index: int  # link index (-1 = base); for a joint, the index of its child link


@dataclass(frozen=True)
class ModelHandles:
    """PyBullet ids of what an env randomizes: robot links, actuated joints, the floor."""

    links: tuple[BodyPart, ...]
    joints: tuple[BodyPart, ...]  # actuated joints, in action order
    floor: BodyPart | None = None
    passive_joints: tuple[BodyPart, ...] = ()  # unactuated joints whose damping is randomizable

    @property
    def damped_joints(self) -> tuple[BodyPart, ...]:
        return self.joints + self.passive_joints

    @property
    def friction_parts(self) -> tuple[BodyPart, ...]:
        return self.links + ((self.floor,) if self.floor is not None else ())


def dynamics_layout(
    handles: ModelHandles,
    observation_names: tuple[str, ...],
    action_names: tuple[str, ...],
    unsupported: frozenset[str] = frozenset(),
) -> DynamicsLayout:
    """Element names per parameter, leaving out what has no effect in this env."""
    link_names = tuple(part.name for part in handles.links)
    joint_names = tuple(part.name for part in handles.joints)
    elements = {
        "link_mass": link_names,
        "lateral_friction": tuple(part.name for part in handles.friction_parts),
        "joint_damping": tuple(part.name for part in handles.damped_joints),
        "motor_strength": joint_names,
        "gravity": ("z",),
        "action_latency_s": ("latency",),
        "observation_noise_std": observation_names,
        "action_noise_std": action_names,
    }
    return DynamicsLayout({k: v for k, v in elements.items() if k not in unsupported})


def read_nominal(client, handles: ModelHandles, gravity_z: float, observation_dim: int) -> Dynamics:
    """Nominal values as loaded from the model file, cached once when the env is built."""
    links = [client.getDynamicsInfo(part.body, part.index) for part in handles.links]
    friction = [client.getDynamicsInfo(p.body, p.index)[1] for p in handles.friction_parts]
    damping = [client.getJointInfo(p.body, p.index)[6] for p in handles.damped_joints]
    n_joints = len(handles.joints)
    return {
        "link_mass": np.array([info[0] for info in links], dtype=np.float64),
        "lateral_friction": np.array(friction, dtype=np.float64),
        "joint_damping": np.array(damping, dtype=np.float64),
        "motor_strength": np.ones(n_joints),
        "gravity": np.array([gravity_z]),
        "action_latency_s": np.zeros(1),
        "observation_noise_std": np.zeros(observation_dim),
        "action_noise_std": np.zeros(n_joints),
    }


def apply_dynamics(
    client,
    handles: ModelHandles,
    values: Mapping[str, np.ndarray],
    applied: Mapping[str, np.ndarray],
) -> None:
    """Write into the simulator every value that differs from what is ``applied`` now.

    PyBullet rescales a link's inertia with its mass, so a heavier link stays a physically
    consistent body (checked in the env tests).
    """
    change = client.changeDynamics  # one lookup: BulletClient builds a partial per attribute
    for i in _changed(values, applied, "link_mass"):
        part = handles.links[i]
        change(part.body, part.index, mass=float(values["link_mass"][i]))
    for i in _changed(values, applied, "lateral_friction"):
        part = handles.friction_parts[i]
        change(part.body, part.index, lateralFriction=float(values["lateral_friction"][i]))
    for i in _changed(values, applied, "joint_damping"):
        part = handles.damped_joints[i]
        change(part.body, part.index, jointDamping=float(values["joint_damping"][i]))
    if _changed(values, applied, "gravity").size:
        client.setGravity(0.0, 0.0, float(values["gravity"][0]))


def read_simulator_dynamics(client, handles: ModelHandles) -> Dynamics:
    """What PyBullet holds now, for checks that values really landed."""
    return {
        "link_mass": np.array([client.getDynamicsInfo(p.body, p.index)[0] for p in handles.links]),
        "lateral_friction": np.array(
            [client.getDynamicsInfo(p.body, p.index)[1] for p in handles.friction_parts]
        ),
        "gravity": np.array([client.getPhysicsEngineParameters()["gravityAccelerationZ"]]),
    }


def _changed(
    values: Mapping[str, np.ndarray], applied: Mapping[str, np.ndarray], key: str
) -> np.ndarray:
    if key not in values:
        return np.empty(0, dtype=np.int64)
    return np.flatnonzero(values[key] != applied[key])
