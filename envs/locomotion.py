"""Shared walker code: pybullet_envs' ``WalkerBase`` physics, observation and reward, once.

A walker (Hopper, Walker2D, HalfCheetah, Ant) is its constants: model file, links that carry
mass, torso, feet, actuated joints, power, alive rule and physics settings. This module
holds what pybullet_envs' walkers share, so returns compare with the RL Baselines3 Zoo's:

- the model on ``plane_stadium.sdf`` (floor friction 0.8, restitution 0.5), gravity 9.8,
  contact ERP 0.9, one ``control_dt`` step per action made of ``sub_steps`` PyBullet
  sub-steps, ``solver_iterations`` solver iterations;
- torque = power * power_coef * motor strength * action (:class:`TorqueActuator`);
- observation (clipped to +-5): height above start, sin/cos of the heading to a target 1 km
  down +x, 0.3 * torso velocity in the yaw frame, roll, pitch, each joint's position scaled to
  [-1, 1] within its limits and 0.1 * its velocity, each foot's floor contact;
- reward = alive (+1 / -1) + progress toward the target (potential-based, per step)
  + electricity cost + joints-at-limit cost; the episode ends when the walker is not alive.

Two quirks of the original are kept on purpose so numbers stay comparable: the contact flags
in an observation are the ones measured after the *previous* step, and the target distance
is measured from the mean position of every link plus the floor (at the origin).

Per-step work is a handful of batched PyBullet reads (bound once) and scalar arithmetic:
the step loop is dominated by ``stepSimulation`` (see ``bench/env_speed.py``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces

from sim2real.envs.actuators import TorqueActuator
from sim2real.envs.base import BulletEnv, PrivilegedArg, RandomizationArg
from sim2real.envs.bullet import BulletClient, pybullet, pybullet_data
from sim2real.envs.terrain import TerrainGrid
from sim2real.randomization import BodyPart, ModelHandles

DATA = Path(pybullet_data.getDataPath())
LOAD_FLAGS = (
    pybullet.URDF_USE_SELF_COLLISION
    | pybullet.URDF_USE_SELF_COLLISION_EXCLUDE_ALL_PARENTS
    | pybullet.URDF_GOOGLEY_UNDEFINED_COLORS
)
BODY_OBSERVATION = (
    "height",
    "target_sin",
    "target_cos",
    "torso_vel_x",
    "torso_vel_y",
    "torso_vel_z",
    "roll",
    "pitch",
)


def walker_observation_names(joints: tuple[str, ...], feet: tuple[str, ...]) -> tuple[str, ...]:
    """The observation layout of a walker with these actuated joints and feet."""
    return (
        *BODY_OBSERVATION,
        *(f"{joint}_{kind}" for joint in joints for kind in ("pos", "vel")),
        *(f"{foot}_contact" for foot in feet),
    )


class WalkerEnv(BulletEnv):
    """A pybullet_envs walker; a subclass sets the constants below (and may override alive)."""

    # The robot.
    model_file: ClassVar[str]  # MJCF file under pybullet_data
    torso: ClassVar[str]
    massive_links: ClassVar[tuple[str, ...]]  # links whose masses DR randomizes, torso first
    feet: ClassVar[tuple[str, ...]]
    power: ClassVar[float]
    power_coef: ClassVar[float] = 100.0
    joint_power_coefs: ClassVar[Mapping[str, float]] = {}  # per-joint overrides of power_coef
    alive_height: ClassVar[float] = -math.inf  # alive while the torso is higher than this
    alive_pitch: ClassVar[float] = math.inf  # ... and |pitch| below this
    terminates: ClassVar[bool] = True  # False: not being alive costs reward, never ends it
    # Physics and task, as in pybullet_envs.
    control_dt: ClassVar[float] = 0.0165
    sub_steps: ClassVar[int] = 4  # PyBullet's internal sub-steps of one stepSimulation
    solver_iterations: ClassVar[int] = 5
    floor_friction: ClassVar[float] = 0.8
    floor_restitution: ClassVar[float] = 0.5
    target_x: ClassVar[float] = 1e3
    electricity_cost: ClassVar[float] = -2.0
    stall_torque_cost: ClassVar[float] = -0.1
    joints_at_limit_cost: ClassVar[float] = -0.1
    initial_joint_spread: ClassVar[float] = 0.1  # joints start uniform in +-this
    # Rough terrain (terrain_roughness_m) covers x in [-2, 62] m, 4 m wide, flat within 1 m of
    # the start; past it the floor runs on flat, just under the patch's lowest point.
    terrain_grid: ClassVar[TerrainGrid | None] = TerrainGrid((64.0, 4.0), (30.0, 0.0), 0.2, 1.0)

    def __init__(
        self,
        randomization: RandomizationArg = None,
        render_mode: str | None = None,
        privileged: PrivilegedArg = False,
        actuator: Mapping[str, Any] | None = None,
    ):
        n_obs = len(self.observation_names)
        self.observation_space = spaces.Box(-5.0, 5.0, (n_obs,), np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, (len(self.action_names),), np.float32)
        super().__init__(randomization, render_mode, privileged, actuator)

    def alive(self, z: float, pitch: float) -> bool:
        """The alive test; contact flags (``self._feet_contact``) are the previous step's."""
        return z > self.alive_height and abs(pitch) < self.alive_pitch

    # -- hooks -----------------------------------------------------------------------------

    def _load(self, client: BulletClient) -> ModelHandles:
        client.setPhysicsEngineParameter(deterministicOverlappingPairs=1)
        client.setGravity(0.0, 0.0, self.gravity_z)
        client.setDefaultContactERP(0.9)
        client.setPhysicsEngineParameter(
            fixedTimeStep=self.control_dt,
            numSolverIterations=self.solver_iterations,
            numSubSteps=self.sub_steps,
        )
        # Floor first, robot second: the original's body ids, so contacts resolve in its order.
        floor = client.loadSDF(str(DATA / "plane_stadium.sdf"))[0]
        client.changeDynamics(
            floor, -1, lateralFriction=self.floor_friction, restitution=self.floor_restitution
        )
        robot = client.loadMJCF(str(DATA / "mjcf" / self.model_file), flags=LOAD_FLAGS)[0]
        infos = [client.getJointInfo(robot, j) for j in range(client.getNumJoints(robot))]
        link_index = {info[12].decode(): info[0] for info in infos}
        joint_index = {info[1].decode(): info[0] for info in infos}
        free = [info[0] for info in infos if info[2] != pybullet.JOINT_FIXED]
        # Default motors would hold every joint still, including the planar slide/hinge ones.
        client.setJointMotorControlArray(
            robot, free, pybullet.VELOCITY_CONTROL, forces=[0.0] * len(free)
        )
        # A free-floating walker's torso is the base (Ant); a planar one's is a link.
        link_index.setdefault(self.torso, -1)
        self._cache_model(client, robot, link_index, joint_index, infos)

        def part(name: str, index: dict[str, int]) -> BodyPart:
            return BodyPart(name, robot, index[name])

        return ModelHandles(
            links=tuple(part(name, link_index) for name in self.massive_links),
            joints=tuple(part(name, joint_index) for name in self.action_names),
            floor=BodyPart("floor", floor, -1),
            base=part(self.torso, link_index),
            feet=tuple(part(name, link_index) for name in self.feet),
        )

    def _make_actuator(self, client: BulletClient, handles: ModelHandles) -> TorqueActuator:
        gains = [
            self.power * self.joint_power_coefs.get(name, self.power_coef)
            for name in self.action_names
        ]
        return TorqueActuator(client, self._robot, self._joints, gains)

    def _reset_robot(self) -> None:
        # One draw per joint, in joint order: the same numbers as the original's scalar draws.
        spread = self.initial_joint_spread
        positions = self.np_random.uniform(-spread, spread, len(self._joints))
        self._reset_joints(
            targetValues=[[p] for p in positions.tolist()],
            targetVelocities=[[0.0]] * len(self._joints),
        )
        self._initial_z = None  # anchored by the first observation of the episode
        self._feet_contact = [0.0] * len(self._feet_links)

    def _observe(self) -> np.ndarray:
        position, orientation, (vx, vy, vz) = self._read_torso()
        z = position[2]
        roll, pitch, yaw = pybullet.getEulerFromQuaternion(orientation)
        x_mean, y_mean = self._mean_xy(position)
        dx, dy = self.target_x - x_mean, -y_mean
        potential = -math.sqrt(dx * dx + dy * dy) / self.control_dt
        if self._initial_z is None:
            self._initial_z, self._potential = z, potential
        self._z, self._pitch, self._next_potential = z, pitch, potential
        heading = math.atan2(dy, dx) - yaw
        cos_yaw, sin_yaw = math.cos(yaw), math.sin(yaw)
        body = (
            z - self._initial_z,
            math.sin(heading),
            math.cos(heading),
            0.3 * (cos_yaw * vx + sin_yaw * vy),
            0.3 * (cos_yaw * vy - sin_yaw * vx),
            0.3 * vz,
            roll,
            pitch,
        )
        joints: list[float] = []  # (scaled position, 0.1 * speed) per joint
        speeds: list[float] = []  # _reward reads these two
        at_limit = 0
        for (angle, rate, _, _), low, span in zip(
            self._read_joints(), self._lower, self._span, strict=True
        ):
            position, speed = 2.0 * (angle - low) / span - 1.0, 0.1 * rate
            joints += (position, speed)
            speeds.append(speed)
            at_limit += abs(position) > 0.99
        self._joint_speeds, self._joints_at_limit = speeds, at_limit
        # Clipped to +-5 (the observation space) by the step loop, after noise.
        return np.array((*body, *joints, *self._feet_contact))

    def _reward(self, command: np.ndarray) -> tuple[dict[str, float], bool]:
        alive = self.alive(self._z, self._pitch)
        progress = self._next_potential - self._potential
        self._potential = self._next_potential
        # Measured now, observed next step: the original's order (see module docstring).
        touching = self._links_on_ground()
        self._feet_contact = [1.0 if link in touching else 0.0 for link in self._feet_links]
        # ``command`` is the applied action (clipped, delayed); the original charges the raw
        # action, which is the same thing for actions inside [-1, 1] without latency.
        power = stall = 0.0
        for a, speed in zip(command.tolist(), self._joint_speeds, strict=True):
            power += abs(a * speed)  # speed is the observed 0.1 * joint velocity, as originally
            stall += a * a
        n = len(self._joint_speeds)
        terms = {
            "alive": 1.0 if alive else -1.0,
            "progress": progress,
            "electricity": self.electricity_cost * power / n + self.stall_torque_cost * stall / n,
            "joints_at_limit": self.joints_at_limit_cost * self._joints_at_limit,
        }
        return terms, not alive and self.terminates

    def _camera_target(self) -> list[float]:
        x, y, _ = self._read_torso()[0]
        return [x, y, 1.0]

    # -- helpers -------------------------------------------------------------------------

    def _cache_model(
        self,
        client: BulletClient,
        robot: int,
        link_index: dict[str, int],
        joint_index: dict[str, int],
        infos: list[tuple],
    ) -> None:
        """Indices, limits and pre-bound PyBullet reads, computed once instead of every step."""
        self._robot = robot
        self._joints = [joint_index[name] for name in self.action_names]
        self._lower = [infos[j][8] for j in self._joints]
        self._span = [infos[j][9] - infos[j][8] for j in self._joints]
        all_links = list(range(len(infos)))
        # The original averages every part's position: all links, the floor at the origin and,
        # when the torso is the base, the base.
        self._torso_is_base = link_index[self.torso] == -1
        self._n_parts = len(all_links) + 1 + self._torso_is_base
        # BulletClient builds a new partial on every attribute access; bind each read once.
        self._read_joints = functools.partial(client.getJointStates, robot, self._joints)
        self._reset_joints = functools.partial(client.resetJointStatesMultiDof, robot, self._joints)
        self._read_torso = (
            _base_reader(client, robot)
            if self._torso_is_base
            else _link_reader(client, robot, link_index[self.torso])
        )
        self._read_links = functools.partial(client.getLinkStates, robot, all_links)
        self._feet_links = [link_index[foot] for foot in self.feet]
        self._initial_z: float | None = None
        self._feet_contact = [0.0] * len(self.feet)

    def _mean_xy(self, torso: tuple[float, float, float]) -> tuple[float, float]:
        x, y = (torso[0], torso[1]) if self._torso_is_base else (0.0, 0.0)
        for state in self._read_links():
            position = state[0]
            x += position[0]
            y += position[1]
        return x / self._n_parts, y / self._n_parts


Pose = tuple[tuple[float, float, float], tuple[float, ...], tuple[float, float, float]]


def _link_reader(client: BulletClient, body: int, link: int) -> Callable[[], Pose]:
    """A link's position, orientation and linear velocity: one pre-bound PyBullet call."""
    read = functools.partial(client.getLinkState, body, link, computeLinkVelocity=1)

    def pose() -> Pose:
        state = read()
        return state[0], state[1], state[6]

    return pose


def _base_reader(client: BulletClient, body: int) -> Callable[[], Pose]:
    read_pose = functools.partial(client.getBasePositionAndOrientation, body)
    read_velocity = functools.partial(client.getBaseVelocity, body)

    def pose() -> Pose:
        position, orientation = read_pose()
        return position, orientation, read_velocity()[0]

    return pose
