"""A robot's measurable state, read from and written to PyBullet the same way for every robot.

The state is what a real robot's logs hold: every non-fixed joint's position and velocity
(for the Hopper that includes the planar root joints) and the base's world pose and
velocities (the base link's centre of mass; the Hopper's torso is a link, the Ant's is the
multibody base). Writing a state back puts the simulator exactly there: joints are reset
one by one and, where the multibody base moves freely, the base too. Nothing here knows a
particular robot: the joints come from PyBullet, the base from the env's ``handles.base``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from sim2real.envs.bullet import pybullet
from sim2real.errors import UserError

# Field name -> width per joint (None) or fixed width; the order of the state vector.
STATE_FIELDS: dict[str, int | None] = {
    "joint_positions": None,
    "joint_velocities": None,
    "base_position": 3,
    "base_orientation": 4,  # quaternion x, y, z, w (PyBullet's order)
    "base_linear_velocity": 3,
    "base_angular_velocity": 3,
}
_ONE_DOF = (pybullet.JOINT_REVOLUTE, pybullet.JOINT_PRISMATIC)

State = dict[str, np.ndarray]


class StateIO:
    """Reads and writes the measurable state of an env's robot (a :class:`BulletEnv`)."""

    def __init__(self, env: Any):
        handles = env.handles
        base = handles.main_part
        self._client = env.client
        self._body = base.body
        self._base_link = base.index if handles.base is not None else None
        self.base_name = base.name if handles.base is not None else ""
        joints, names = [], []
        for index in range(self._client.getNumJoints(self._body)):
            info = self._client.getJointInfo(self._body, index)
            if info[2] == pybullet.JOINT_FIXED:
                continue
            if info[2] not in _ONE_DOF:
                raise UserError(
                    f"joint {info[1].decode()!r} has more than one degree of freedom; "
                    "the measured state holds revolute and prismatic joints only"
                )
            joints.append(index)
            names.append(info[1].decode())
        self._joints = joints
        self.joint_names = tuple(names)
        # PyBullet treats a zero-mass base as static: only a moving base needs its state set.
        self._free_base = self._client.getDynamicsInfo(self._body, -1)[0] > 0
        if self._free_base and self._base_link not in (None, -1):
            raise UserError(
                f"the robot's base {self.base_name!r} is a link of a free-floating body; its "
                "state cannot be set exactly from the measured state"
            )

    def widths(self) -> dict[str, int]:
        """Columns of each state field."""
        joints = len(self.joint_names)
        return {name: joints if width is None else width for name, width in STATE_FIELDS.items()}

    def read(self) -> State:
        """The current state, one float64 array per field."""
        states = self._client.getJointStates(self._body, self._joints)
        if self._base_link is None or self._base_link == -1:
            position, orientation = self._client.getBasePositionAndOrientation(self._body)
            linear, angular = self._client.getBaseVelocity(self._body)
        else:
            # Forward kinematics from the joints: PyBullet's cached link poses are only updated
            # by a step, so they would miss a state just written.
            link = self._client.getLinkState(
                self._body, self._base_link, computeLinkVelocity=1, computeForwardKinematics=1
            )
            position, orientation, linear, angular = link[0], link[1], link[6], link[7]
        return {
            "joint_positions": np.array([s[0] for s in states], dtype=np.float64),
            "joint_velocities": np.array([s[1] for s in states], dtype=np.float64),
            "base_position": np.array(position, dtype=np.float64),
            "base_orientation": np.array(orientation, dtype=np.float64),
            "base_linear_velocity": np.array(linear, dtype=np.float64),
            "base_angular_velocity": np.array(angular, dtype=np.float64),
        }

    def write(self, state: Mapping[str, np.ndarray]) -> None:
        """Put the simulator in ``state`` (a row of each field), exactly."""
        positions = state["joint_positions"].tolist()
        velocities = state["joint_velocities"].tolist()
        for joint, position, velocity in zip(self._joints, positions, velocities, strict=True):
            self._client.resetJointState(self._body, joint, position, velocity)
        if self._free_base:
            self._client.resetBasePositionAndOrientation(
                self._body, state["base_position"].tolist(), state["base_orientation"].tolist()
            )
            self._client.resetBaseVelocity(
                self._body,
                state["base_linear_velocity"].tolist(),
                state["base_angular_velocity"].tolist(),
            )


def actuated_joint_names(env: Any) -> tuple[str, ...]:
    """The joints the env's actuator drives (a :class:`BulletEnv`), in torque order."""
    actuator = env.ideal_actuator
    return tuple(
        env.client.getJointInfo(actuator.body, joint)[1].decode() for joint in actuator.joints
    )


def state_vector(fields: Mapping[str, np.ndarray]) -> np.ndarray:
    """Fields ``(n, width)`` side by side in :data:`STATE_FIELDS` order: ``(n, dims)``."""
    return np.concatenate([np.atleast_2d(fields[name]) for name in STATE_FIELDS], axis=1)


def field_columns(joints: int) -> dict[str, slice]:
    """The columns of each field in :func:`state_vector` for a robot with ``joints`` joints."""
    columns, start = {}, 0
    for field, width in STATE_FIELDS.items():
        end = start + (joints if width is None else width)
        columns[field], start = slice(start, end), end
    return columns


def state_dimension_names(joint_names: tuple[str, ...]) -> tuple[str, ...]:
    """A name per column of :func:`state_vector`."""
    axes = {"base_orientation": ("qx", "qy", "qz", "qw")}
    names: list[str] = []
    for field, width in STATE_FIELDS.items():
        if width is None:
            kind = "pos" if field == "joint_positions" else "vel"
            names += [f"{joint}.{kind}" for joint in joint_names]
        else:
            names += [f"{field}.{axis}" for axis in axes.get(field, ("x", "y", "z"))]
    return tuple(names)
