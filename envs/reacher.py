"""``sim2real/Reacher-v0``: pybullet_envs' ReacherBulletEnv-v0, a two-link arm reaching a target.

``mjcf/reacher.xml`` lying flat (no gravity, one 0.0165 s step per action, 5 solver
iterations); torque = 0.05 * motor strength * action on the shoulder and the elbow. The
9-D observation and the reward are the peer's, quirks included, so returns compare with the
RL Zoo's: the shoulder angle enters as ``1 - 2 * q`` (the joint has no limits, and the
original scales it by them anyway), the elbow as ``q / 3``, velocities times 0.1. Reward =
progress toward the target (100 x the distance closed) + electricity cost + a stuck-elbow
cost; episodes never terminate (150 steps).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces

from sim2real.envs.actuators import TorqueActuator
from sim2real.envs.base import BulletEnv, PrivilegedArg, RandomizationArg
from sim2real.envs.bullet import BulletClient, pybullet
from sim2real.envs.locomotion import DATA, LOAD_FLAGS
from sim2real.randomization import BodyPart, ModelHandles

TARGET_LIMIT = 0.27


class ReacherEnv(BulletEnv):
    control_dt: ClassVar[float] = 0.0165
    gravity_z: ClassVar[float] = 0.0
    solver_iterations: ClassVar[int] = 5
    torque_gain: ClassVar[float] = 0.05
    action_names: ClassVar[tuple[str, ...]] = ("joint0", "joint1")
    observation_names: ClassVar[tuple[str, ...]] = (
        "target_x",
        "target_y",
        "to_target_x",
        "to_target_y",
        "shoulder_cos",
        "shoulder_sin",
        "shoulder_vel",
        "elbow_pos",
        "elbow_vel",
    )
    # The arm moves in a horizontal plane without touching anything: gravity and contact
    # terms would change nothing.
    unsupported_parameters: ClassVar[frozenset[str]] = frozenset(
        {"gravity", "lateral_friction", "restitution", "rolling_friction", "spinning_friction"}
    )

    def __init__(
        self,
        randomization: RandomizationArg = None,
        render_mode: str | None = None,
        privileged: PrivilegedArg = False,
        actuator: Mapping[str, Any] | None = None,
    ):
        self.observation_space = spaces.Box(-100.0, 100.0, (9,), np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, (2,), np.float32)
        super().__init__(randomization, render_mode, privileged, actuator)

    def _load(self, client: BulletClient) -> ModelHandles:
        client.setPhysicsEngineParameter(deterministicOverlappingPairs=1)
        client.setGravity(0.0, 0.0, self.gravity_z)
        client.setDefaultContactERP(0.9)
        client.setPhysicsEngineParameter(
            fixedTimeStep=self.control_dt, numSolverIterations=self.solver_iterations, numSubSteps=1
        )
        bodies = client.loadMJCF(str(DATA / "mjcf" / "reacher.xml"), flags=LOAD_FLAGS)
        arm, target = bodies[-2], bodies[-1]
        for body in (arm, target):
            joints = list(range(client.getNumJoints(body)))
            client.setJointMotorControlArray(
                body, joints, pybullet.VELOCITY_CONTROL, forces=[0.0] * len(joints)
            )
        link = {
            client.getJointInfo(arm, j)[12].decode(): j for j in range(client.getNumJoints(arm))
        }
        self._arm, self._arm_joints = arm, [0, 2]
        self._read_arm = functools.partial(client.getJointStates, arm, self._arm_joints)
        self._read_target = functools.partial(client.getJointStates, target, [0, 1])
        self._reset_arm = functools.partial(client.resetJointStatesMultiDof, arm, self._arm_joints)
        self._reset_target = functools.partial(client.resetJointStatesMultiDof, target, [0, 1])
        self._read_fingertip = functools.partial(client.getLinkState, arm, link["fingertip"])
        self._read_target_link = functools.partial(client.getLinkState, target, 2)
        return ModelHandles(
            links=tuple(
                BodyPart(name, arm, link[name]) for name in ("body0", "body1", "fingertip")
            ),
            joints=(BodyPart("joint0", arm, 0), BodyPart("joint1", arm, 2)),
            base=BodyPart("fingertip", arm, link["fingertip"]),
        )

    def _make_actuator(self, client: BulletClient, handles: ModelHandles) -> TorqueActuator:
        return TorqueActuator(client, self._arm, self._arm_joints, [self.torque_gain] * 2)

    def _reset_robot(self) -> None:
        # The original's draws, in its order: target x, target y, shoulder, elbow.
        tx, ty = self.np_random.uniform(-TARGET_LIMIT, TARGET_LIMIT, 2).tolist()
        shoulder, elbow = self.np_random.uniform(-3.14, 3.14, 2).tolist()
        self._reset_target(targetValues=[[tx], [ty]], targetVelocities=[[0.0], [0.0]])
        self._reset_arm(targetValues=[[shoulder], [elbow]], targetVelocities=[[0.0], [0.0]])
        self._potential: float | None = None

    def _observe(self) -> np.ndarray:
        (q0, dq0, _, _), (q1, dq1, _, _) = self._read_arm()
        (tx, _, _, _), (ty, _, _, _) = self._read_target()
        fx, fy, _ = self._read_fingertip()[0]
        gx, gy, _ = self._read_target_link()[0]
        dx, dy = fx - gx, fy - gy
        theta = 1.0 - 2.0 * q0  # the original's "relative position" of an unlimited joint
        self._speeds = (0.1 * dq0, 0.1 * dq1)
        self._elbow = q1 / 3.0
        potential = -100.0 * math.sqrt(dx * dx + dy * dy)
        if self._potential is None:
            self._potential = potential
        self._next_potential = potential
        return np.array(
            (
                tx,
                ty,
                dx,
                dy,
                math.cos(theta),
                math.sin(theta),
                self._speeds[0],
                self._elbow,
                self._speeds[1],
            )
        )

    def _reward(self, command: np.ndarray) -> tuple[dict[str, float], bool]:
        progress = self._next_potential - self._potential
        self._potential = self._next_potential
        a0, a1 = command.tolist()
        electricity = -0.10 * (abs(a0 * self._speeds[0]) + abs(a1 * self._speeds[1])) - 0.01 * (
            abs(a0) + abs(a1)
        )
        stuck = -0.1 if abs(abs(self._elbow) - 1.0) < 0.01 else 0.0
        return {"progress": progress, "electricity": electricity, "stuck_joint": stuck}, False

    def _camera_target(self) -> list[float]:
        return [0.0, 0.0, 0.0]
