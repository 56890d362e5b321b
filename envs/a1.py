"""``sim2real/A1-v0``: the Unitree A1 quadruped walking to a velocity command, as in legged_gym.

- ``a1/a1.urdf`` from pybullet_data on a flat plane; physics at 200 Hz, the policy at 50 Hz
  (``physics_steps_per_action`` = 4), the PD loop evaluated every physics step.
- Actions: joint position offsets from the standing pose through a :class:`PDActuator`
  (legged_gym's A1: Kp 20 N*m/rad, Kd 0.5 N*m*s/rad, action scale 0.25; torque limits from
  the URDF: 20 N*m at the hips, 55 N*m at thighs and calves). The action space is
  [-action_clip, action_clip] (1 by default: targets within 0.25 rad of the pose, where a
  trained policy's mean sits beyond the bound almost always; legged_gym clips at 100).
- A velocity command (forward, lateral, yaw rate) drawn per episode, part of the observation;
  with ``zero_command_below`` (m/s; legged_gym: 0.2) a drawn (forward, lateral) command of a
  smaller norm is set to zero, so standing still is asked for exactly, not as a slow walk.
- Observation (45-D, what a real A1 measures, scaled as legged_gym): base angular velocity
  (IMU, x0.25) and projected gravity in the base frame, the command (x2, x2, x0.25), joint
  positions relative to the standing pose, joint velocities (x0.05), the last action. The
  base linear velocity is privileged (``info["base_lin_vel"]``, and the observation with
  ``privileged=True``), not observed; ``info["feet_contact"]`` says which feet are on the
  ground (FR, FL, RR, RL). With ``gait_frequency_hz`` > 0 two more entries, the
  gait clock's sin and cos (its phase starts at a random point each episode).
- Reward: legged_gym's terms times the control step: velocity tracking (exp kernels; with
  ``relative_tracking_floor`` the forward/lateral error is divided by the commanded speed, so
  that standing still earns as little under a slow command as under a fast one),
  vertical velocity, roll/pitch rates, torques, joint accelerations, action rate, feet air
  time, thigh/calf collisions, soft joint limits, plus orientation and base height. With
  ``only_positive_rewards=True`` a step's negative total is clipped to zero, as legged_gym
  does by default (term ``positive_clip`` holds the difference). With the gait clock, term
  ``gait`` pays the fraction of feet whose ground contact matches a trot (diagonal pairs half
  a cycle apart, each on the ground for half of it; all four down under a standing command),
  so a slow command is answered by stepping rather than by standing; with
  ``gait_tracking_gate=True`` it is multiplied by the linear-velocity (x, y) tracking kernel,
  so stepping in place under a walking command earns little. The episode ends when the trunk
  touches the ground or the robot tips over (|roll| or |pitch| above 1 rad).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces

from sim2real.envs.actuators import PDActuator
from sim2real.envs.base import BulletEnv, PrivilegedArg, RandomizationArg
from sim2real.envs.bullet import BulletClient, pybullet, pybullet_data
from sim2real.envs.terrain import TerrainGrid
from sim2real.errors import UserError
from sim2real.randomization import BodyPart, ModelHandles, is_list

DATA = Path(pybullet_data.getDataPath())
LEGS = ("FR", "FL", "RR", "RL")
JOINTS = tuple(f"{leg}_{part}_joint" for leg in LEGS for part in ("hip", "upper", "lower"))
# legged_gym's A1 standing pose: hips splay outwards, rear thighs further back, calves folded.
DEFAULT_POSE = {
    **{f"{leg}_hip_joint": (0.1 if leg[1] == "L" else -0.1) for leg in LEGS},
    **{f"{leg}_upper_joint": (0.8 if leg[0] == "F" else 1.0) for leg in LEGS},
    **{f"{leg}_lower_joint": -1.5 for leg in LEGS},
}
COMMANDS = ("lin_vel_x", "lin_vel_y", "ang_vel_yaw")
MAX_COMMAND = 5.0  # m/s or rad/s either way: far beyond what the A1 can do
# A relative tracking error divides by the command, never by less than this: under a zero
# command, at this floor and sigma 0.25, a drift of 0.025 m/s already loses 63% of the term.
MIN_RELATIVE_FLOOR = 0.05
REWARD_SCALES = {
    "tracking_lin_vel": 1.0,
    "tracking_ang_vel": 0.5,
    "lin_vel_z": -2.0,
    "ang_vel_xy": -0.05,
    "orientation": -1.0,
    "base_height": -10.0,
    "torques": -0.0002,
    "dof_acc": -2.5e-7,
    "action_rate": -0.01,
    "feet_air_time": 1.0,
    "collision": -1.0,
    "dof_pos_limits": -10.0,
    "gait": 1.0,  # only with the gait clock (gait_frequency_hz > 0)
}
CLOCK_NAMES = ("gait_clock_sin", "gait_clock_cos")
# Feet (in LEGS order) on the ground in the first half of the trot cycle: a diagonal pair.
TROT_OFFSETS = np.array([0.0, 0.5, 0.5, 0.0])  # FR, FL, RR, RL
MAX_GAIT_FREQUENCY_HZ = 5.0
# Below this command speed (m/s) neither the air-time nor the gait term asks for steps.
MOVING_COMMAND = 0.1
# The action's bound (legged_gym's clip_actions): joint targets within action_clip x
# action_scale rad of the standing pose. Below 0.1 the legs can hardly move.
MIN_ACTION_CLIP, MAX_ACTION_CLIP = 0.1, 100.0


class A1Env(BulletEnv):
    control_dt: ClassVar[float] = 0.02
    physics_steps_per_action: ClassVar[int] = 4
    start_height: ClassVar[float] = 0.42
    base_height_target: ClassVar[float] = 0.25  # legged_gym's; it stands at ~0.27 m
    kp: ClassVar[float] = 20.0
    kd: ClassVar[float] = 0.5
    action_scale: ClassVar[float] = 0.25
    floor_friction: ClassVar[float] = 1.0
    tracking_sigma: ClassVar[float] = 0.25
    soft_limit_fraction: ClassVar[float] = 0.9
    tip_over_rad: ClassVar[float] = 1.0
    feet_air_time_target_s: ClassVar[float] = 0.5
    # Rough terrain (terrain_roughness_m): 16 m x 16 m around the start, flat within 0.5 m.
    terrain_grid: ClassVar[TerrainGrid | None] = TerrainGrid((16.0, 16.0), (0.0, 0.0), 0.2, 0.5)
    default_command_ranges: ClassVar[Mapping[str, tuple[float, float]]] = {
        "lin_vel_x": (-1.0, 1.0),
        "lin_vel_y": (-1.0, 1.0),
        "ang_vel_yaw": (-1.0, 1.0),
    }
    action_names: ClassVar[tuple[str, ...]] = JOINTS
    privileged_state_names: ClassVar[tuple[str, ...]] = (
        "base_lin_vel_x",
        "base_lin_vel_y",
        "base_lin_vel_z",
    )
    observation_names: ClassVar[tuple[str, ...]] = (
        "ang_vel_x",
        "ang_vel_y",
        "ang_vel_z",
        "gravity_x",
        "gravity_y",
        "gravity_z",
        *(f"command_{name}" for name in COMMANDS),
        *(f"{joint}_pos" for joint in JOINTS),
        *(f"{joint}_vel" for joint in JOINTS),
        *(f"{joint}_last_action" for joint in JOINTS),
    )
    # legged_gym's observation scales, as the policy sees them.
    observation_units: ClassVar[dict[str, str]] = {
        **dict.fromkeys(("ang_vel_x", "ang_vel_y", "ang_vel_z"), "rad/s x0.25"),
        **dict.fromkeys(("gravity_x", "gravity_y", "gravity_z"), "unit vector, base frame"),
        "command_lin_vel_x": "m/s x2",
        "command_lin_vel_y": "m/s x2",
        "command_ang_vel_yaw": "rad/s x0.25",
        **{f"{joint}_pos": "rad from the default pose" for joint in JOINTS},
        **{f"{joint}_vel": "rad/s x0.05" for joint in JOINTS},
        **{f"{joint}_last_action": "action" for joint in JOINTS},
    }

    def __init__(
        self,
        randomization: RandomizationArg = None,
        render_mode: str | None = None,
        command_ranges: Mapping[str, Sequence[float]] | None = None,
        privileged: PrivilegedArg = False,
        actuator: Mapping[str, Any] | None = None,
        reward_scales: Mapping[str, float] | None = None,
        tracking_sigma: float | None = None,
        relative_tracking_floor: float = 0.0,
        only_positive_rewards: bool = False,
        zero_command_below: float = 0.0,
        feet_air_time_target_s: float | None = None,
        gait_frequency_hz: float = 0.0,
        gait_tracking_gate: bool = False,
        action_clip: float = 1.0,
    ):
        self.command_ranges = _check_command_ranges(command_ranges, self.default_command_ranges)
        self.reward_scales = _check_reward_scales(reward_scales)
        if tracking_sigma is not None:
            self.tracking_sigma = _check_number(
                "tracking_sigma", tracking_sigma, 1e-4, 100.0,
                "a number in [0.0001, 100] (legged_gym's default: 0.25)",
            )  # fmt: skip
        floor_valid = (
            f"0 (legged_gym's absolute error) or a speed in [{MIN_RELATIVE_FLOOR:g}, "
            f"{MAX_COMMAND:g}] m/s (e.g. 0.25)"
        )
        self.relative_tracking_floor = _check_number(
            "relative_tracking_floor", relative_tracking_floor, 0.0, MAX_COMMAND, floor_valid
        )
        if 0.0 < self.relative_tracking_floor < MIN_RELATIVE_FLOOR:
            raise UserError(
                f"env kwarg 'relative_tracking_floor' = {relative_tracking_floor!r}; "
                f"expected {floor_valid}"
            )
        if not isinstance(only_positive_rewards, bool):
            raise UserError(
                f"env kwarg 'only_positive_rewards' = {only_positive_rewards!r}; "
                "expected true or false"
            )
        self.only_positive_rewards = only_positive_rewards
        if not isinstance(gait_tracking_gate, bool):
            raise UserError(
                f"env kwarg 'gait_tracking_gate' = {gait_tracking_gate!r}; expected true or false"
            )
        self.gait_tracking_gate = gait_tracking_gate
        self.zero_command_below = _check_number(
            "zero_command_below", zero_command_below, 0.0, MAX_COMMAND,
            f"a speed in [0, {MAX_COMMAND:g}] m/s (legged_gym's: 0.2; 0 keeps every drawn command)",
        )  # fmt: skip
        if feet_air_time_target_s is not None:
            self.feet_air_time_target_s = _check_number(
                "feet_air_time_target_s", feet_air_time_target_s, 0.0, 2.0,
                "a duration in [0, 2] s (legged_gym's: 0.5)",
            )  # fmt: skip
        self.gait_frequency_hz = _check_number(
            "gait_frequency_hz", gait_frequency_hz, 0.0, MAX_GAIT_FREQUENCY_HZ,
            f"a frequency in [0, {MAX_GAIT_FREQUENCY_HZ:g}] Hz (0: no gait clock; a trot: 1.5-3)",
        )  # fmt: skip
        if frequency := self.gait_frequency_hz:
            self.observation_names = (*A1Env.observation_names, *CLOCK_NAMES)
            self.observation_units = {
                **A1Env.observation_units,
                **{
                    name: f"{function}(2*pi*phase), phase in [0, 1) at {frequency:g} Hz"
                    for name, function in zip(CLOCK_NAMES, ("sin", "cos"), strict=True)
                },
            }
        elif self.gait_tracking_gate:
            raise UserError(
                "env kwarg 'gait_tracking_gate' = True; it gates the gait term, which needs "
                "the gait clock: set gait_frequency_hz (e.g. 2.0), or the gate to false"
            )
        elif reward_scales and "gait" in reward_scales and self.reward_scales["gait"]:
            raise UserError(
                f"env kwarg 'reward_scales.gait' = {reward_scales['gait']!r}; the gait term "
                "needs the gait clock: set gait_frequency_hz (e.g. 2.0), or the weight to 0"
            )
        self.observation_space = spaces.Box(
            -100.0, 100.0, (len(self.observation_names),), np.float32
        )
        self.action_clip = _check_number(
            "action_clip", action_clip, MIN_ACTION_CLIP, MAX_ACTION_CLIP,
            f"a bound in [{MIN_ACTION_CLIP:g}, {MAX_ACTION_CLIP:g}] (1: joint targets within "
            f"{self.action_scale:g} rad of the standing pose; legged_gym's clip_actions: 100)",
        )  # fmt: skip
        bound = self.action_clip
        self.action_space = spaces.Box(-bound, bound, (len(JOINTS),), np.float32)
        super().__init__(randomization, render_mode, privileged, actuator)

    # -- hooks -----------------------------------------------------------------------------

    def _load(self, client: BulletClient) -> ModelHandles:
        client.setGravity(0.0, 0.0, self.gravity_z)
        client.setTimeStep(self.physics_dt)
        floor = client.loadURDF(str(DATA / "plane.urdf"))
        client.changeDynamics(floor, -1, lateralFriction=self.floor_friction)
        robot = client.loadURDF(str(DATA / "a1" / "a1.urdf"), [0.0, 0.0, self.start_height])
        infos = [client.getJointInfo(robot, j) for j in range(client.getNumJoints(robot))]
        link = {info[12].decode(): info[0] for info in infos}
        joint = {info[1].decode(): info[0] for info in infos}
        self._robot = robot
        self._joints = [joint[name] for name in JOINTS]
        self._default = np.array([DEFAULT_POSE[name] for name in JOINTS])
        for index, angle in zip(self._joints, self._default.tolist(), strict=True):
            client.resetJointState(robot, index, angle, 0.0)
        client.setJointMotorControlArray(
            robot, self._joints, pybullet.VELOCITY_CONTROL, forces=[0.0] * len(self._joints)
        )
        lower = np.array([infos[j][8] for j in self._joints])
        upper = np.array([infos[j][9] for j in self._joints])
        self._limits = (lower, upper)
        middle, half = (lower + upper) / 2, (upper - lower) / 2 * self.soft_limit_fraction
        self._soft_limits = (middle - half, middle + half)
        self._torque_limits = [infos[j][10] for j in self._joints]
        self._feet = [link[f"{leg}_toe"] for leg in LEGS]
        self._penalized = {link[f"{leg}_{part}"] for leg in LEGS for part in ("upper", "lower")}
        self._bind_reads(client)
        trunk = BodyPart("trunk", robot, -1)
        legs = tuple(
            BodyPart(f"{leg}_{part}", robot, link[f"{leg}_{part}"])
            for leg in LEGS
            for part in ("hip", "upper", "lower")
        )
        return ModelHandles(
            links=(trunk, *legs),
            joints=tuple(BodyPart(name, robot, joint[name]) for name in JOINTS),
            floor=BodyPart("floor", floor, -1),
            base=trunk,
            feet=tuple(
                BodyPart(f"{leg}_toe", robot, index)
                for leg, index in zip(LEGS, self._feet, strict=True)
            ),
        )

    def _make_actuator(self, client: BulletClient, handles: ModelHandles) -> PDActuator:
        n = len(JOINTS)
        return PDActuator(
            client,
            self._robot,
            self._joints,
            kp=[self.kp] * n,
            kd=[self.kd] * n,
            torque_limit=self._torque_limits,
            default_pose=self._default,
            action_scale=self.action_scale,
        )

    def _reset_robot(self) -> None:
        lower, upper = self._limits
        positions = np.clip(
            self._default * self.np_random.uniform(0.5, 1.5, len(JOINTS)), lower, upper
        )
        self._reset_joints(
            targetValues=[[p] for p in positions.tolist()],
            targetVelocities=[[0.0]] * len(JOINTS),
        )
        low, high = np.array([self.command_ranges[name] for name in COMMANDS]).T
        self.command = self.np_random.uniform(low, high)
        if np.linalg.norm(self.command[:2]) < self.zero_command_below:
            self.command[:2] = 0.0
        self._last_action = np.zeros(len(JOINTS))
        self._last_joint_velocity = np.zeros(len(JOINTS))
        self._air_time = np.zeros(len(LEGS))
        self._gait_start = self.np_random.uniform() if self.gait_frequency_hz else 0.0
        self._state: dict[str, Any] = {}

    def _observe(self) -> np.ndarray:
        position, orientation = self._read_base_pose()
        linear, angular = self._read_base_velocity()
        # Rows of R (base -> world) are read as columns: R^T v is v in the base frame.
        rotation = np.array(pybullet.getMatrixFromQuaternion(orientation)).reshape(3, 3)
        states = self._read_joints()
        q = np.fromiter((s[0] for s in states), np.float64, len(states))
        dq = np.fromiter((s[1] for s in states), np.float64, len(states))
        self._state = {
            "height": position[2],
            "rpy": pybullet.getEulerFromQuaternion(orientation),
            "lin_vel": rotation.T @ np.asarray(linear),
            "ang_vel": rotation.T @ np.asarray(angular),
            "gravity": rotation.T @ np.array([0.0, 0.0, -1.0]),
            "q": q,
            "dq": dq,
        }
        command_scale = np.array([2.0, 2.0, 0.25])
        parts = [
            0.25 * self._state["ang_vel"],
            self._state["gravity"],
            command_scale * self.command,
            q - self._default,
            0.05 * dq,
            self._last_action,
        ]
        if self.gait_frequency_hz:
            angle = 2.0 * math.pi * self._gait_phase()
            parts.append(np.array([math.sin(angle), math.cos(angle)]))
        return np.concatenate(parts)

    def _reward(self, command: np.ndarray) -> tuple[dict[str, float], bool]:
        state = self._state
        touching = self._links_on_ground()
        contact = np.array([foot in touching for foot in self._feet])
        self._feet_contact = contact.tolist()  # for info
        raw = {
            "tracking_lin_vel": self._tracking(self._planar_speed_error(state["lin_vel"][:2])),
            "tracking_ang_vel": self._tracking(self.command[2:] - state["ang_vel"][2:]),
            "lin_vel_z": state["lin_vel"][2] ** 2,
            "ang_vel_xy": float(np.sum(state["ang_vel"][:2] ** 2)),
            "orientation": float(np.sum(state["gravity"][:2] ** 2)),
            "base_height": (state["height"] - self.base_height_target) ** 2,
            "torques": float(np.sum(self.actuator.inner.torques**2)),
            "dof_acc": float(
                np.sum(((state["dq"] - self._last_joint_velocity) / self.control_dt) ** 2)
            ),
            "action_rate": float(np.sum((command - self._last_action) ** 2)),
            "feet_air_time": self._feet_air_time(contact),
            "collision": float(len(touching & self._penalized)),
            "dof_pos_limits": self._beyond_soft_limits(state["q"]),
        }
        if self.gait_frequency_hz:
            raw["gait"] = self._gait_match(contact)
            if self.gait_tracking_gate:
                raw["gait"] *= raw["tracking_lin_vel"]
        self._last_action = command.copy()
        self._last_joint_velocity = state["dq"]
        terms = {
            name: float(self.reward_scales[name] * value * self.control_dt)
            for name, value in raw.items()
        }
        if self.only_positive_rewards:
            # legged_gym clips the step's total, not each term: penalties still shape a
            # positive step, but a bad step cannot make ending the episode look better.
            terms["positive_clip"] = max(0.0, -sum(terms.values()))
        roll, pitch, _ = state["rpy"]
        fallen = -1 in touching or max(abs(roll), abs(pitch)) > self.tip_over_rad
        return terms, fallen

    def _privileged_state(self) -> np.ndarray:
        return self._state["lin_vel"]

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        observation, reward, terminated, truncated, info = super().step(action)
        if self._state:
            info["base_lin_vel"] = self._state["lin_vel"].tolist()  # privileged: not observed
            info["feet_contact"] = self._feet_contact  # FR, FL, RR, RL on the ground
        return observation, reward, terminated, truncated, info

    def _camera_target(self) -> list[float]:
        x, y, _ = self._read_base_pose()[0]
        return [x, y, 0.3]

    # -- helpers -------------------------------------------------------------------------

    def _bind_reads(self, client: BulletClient) -> None:
        """Pre-bound PyBullet reads: BulletClient builds a partial on every attribute access."""
        robot = self._robot
        self._read_base_pose = functools.partial(client.getBasePositionAndOrientation, robot)
        self._read_base_velocity = functools.partial(client.getBaseVelocity, robot)
        self._read_joints = functools.partial(client.getJointStates, robot, self._joints)
        self._reset_joints = functools.partial(client.resetJointStatesMultiDof, robot, self._joints)

    def _tracking(self, error: np.ndarray) -> float:
        return math.exp(-float(np.sum(error**2)) / self.tracking_sigma)

    def _planar_speed_error(self, velocity: np.ndarray) -> np.ndarray:
        """Command minus base velocity (x, y); with ``relative_tracking_floor``, in units of the
        commanded speed (never below the floor): unchanged at 1 m/s, larger for slow commands,
        so that standing under a 0.25 m/s command is a 100% error, not a 0.25 m/s one (and
        under a zero command a drift counts 1/floor times)."""
        error = self.command[:2] - velocity
        if self.relative_tracking_floor:
            reference = max(float(np.linalg.norm(self.command[:2])), self.relative_tracking_floor)
            error = error / reference
        return error

    def _feet_air_time(self, contact: np.ndarray) -> float:
        """legged_gym's reward for long steps: (air time - target) at each touchdown, the
        target ``feet_air_time_target_s`` (legged_gym's 0.5 s); ``contact``: per foot."""
        self._air_time += self.control_dt
        touchdown = contact & (self._air_time > self.control_dt)
        moving = float(self._moving())
        reward = float(np.sum((self._air_time - self.feet_air_time_target_s) * touchdown)) * moving
        self._air_time[contact] = 0.0
        return reward

    def _moving(self) -> bool:
        return bool(np.linalg.norm(self.command[:2]) > MOVING_COMMAND)

    def _gait_phase(self) -> float:
        """The clock's phase in [0, 1) after this episode's steps so far."""
        return (self._gait_start + self.gait_frequency_hz * self.control_dt * self._steps) % 1.0

    def _gait_match(self, contact: np.ndarray) -> float:
        """The fraction of feet whose contact matches the trot at the clock's phase now (all
        four down under a standing command): the phase the step's observation shows."""
        if self._moving():
            wanted = (self._gait_phase() + TROT_OFFSETS) % 1.0 < 0.5
        else:
            wanted = np.ones(len(LEGS), dtype=bool)
        return float(np.mean(contact == wanted))

    def _beyond_soft_limits(self, q: np.ndarray) -> float:
        low, high = self._soft_limits
        return float(np.sum(np.clip(low - q, 0.0, None) + np.clip(q - high, 0.0, None)))


def _named_overrides(
    given: Mapping[str, Any] | None, valid: Sequence[str], kwarg: str, shape: str
) -> list[tuple[str, Any]]:
    """``given``'s (name, value) pairs, each name one of ``valid``; one-line UserError otherwise."""
    if given is None:
        return []
    if not isinstance(given, Mapping):
        raise UserError(f"env kwarg '{kwarg}' = {given!r}; expected {shape}")
    for name in given:
        if name not in valid:
            raise UserError(
                f"env kwarg '{kwarg}': unknown name {name!r}; valid: {', '.join(valid)}"
            )
    return list(given.items())


def _number(value: Any) -> float:
    """``value`` as a float; NaN for anything that is not a number (booleans and numeric
    strings included: a config's numbers are numbers), inf for an int beyond float range."""
    if isinstance(value, (bool, str, bytes)):
        return math.nan
    try:
        return float(value)
    except OverflowError:
        return math.inf
    except (TypeError, ValueError):
        return math.nan


def _check_command_ranges(
    given: Mapping[str, Sequence[float]] | None, defaults: Mapping[str, tuple[float, float]]
) -> dict[str, tuple[float, float]]:
    """Command ranges (m/s, m/s, rad/s) over the defaults; one-line UserError otherwise."""
    ranges = dict(defaults)
    for name, bounds in _named_overrides(given, COMMANDS, "command_ranges", "{name: [low, high]}"):
        if not is_list(bounds) or len(bounds) != 2:
            raise UserError(f"env kwarg 'command_ranges.{name}' = {bounds!r}; expected [low, high]")
        low, high = (_number(bound) for bound in bounds)  # NaN for a non-number: refused below
        if not (
            math.isfinite(low)
            and math.isfinite(high)
            and low <= high
            and max(-low, high) <= MAX_COMMAND
        ):
            raise UserError(
                f"env kwarg 'command_ranges.{name}' = {list(bounds)!r}; need two numbers, "
                f"low <= high, both within [-{MAX_COMMAND:g}, {MAX_COMMAND:g}]"
            )
        ranges[name] = (low, high)
    return ranges


def _check_reward_scales(given: Mapping[str, float] | None) -> dict[str, float]:
    """Reward term weights over legged_gym's (``REWARD_SCALES``); one-line UserError otherwise."""
    scales = dict(REWARD_SCALES)
    for name, weight in _named_overrides(given, tuple(scales), "reward_scales", "{term: weight}"):
        scales[name] = _check_number(
            f"reward_scales.{name}", weight, -1e4, 1e4, "a number in [-1e4, 1e4]"
        )
    return scales


def _check_number(kwarg: str, given: Any, low: float, high: float, expected: str) -> float:
    """``given`` as a float in [low, high]; a one-line UserError saying ``expected`` otherwise."""
    value = _number(given)
    if not (math.isfinite(value) and low <= value <= high):
        raise UserError(f"env kwarg '{kwarg}' = {given!r}; expected {expected}")
    return value
