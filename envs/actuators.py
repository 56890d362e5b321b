"""Actuators: how a command (the env's action, in its bounds) becomes joint torques, one
physics step at a time.

A robot declares its actuator; the env's step loop calls :meth:`Actuator.send` once per
action and :meth:`Actuator.apply` before every physics step, so a 50 Hz policy can drive a
200 Hz PD loop. Actuator parameters (motor strength, PD gains, torque limits, joint
friction, latency) are catalogue parameters the engine randomizes: every episode's values
reach the actuator through :meth:`Actuator.configure`.

- :class:`TorqueActuator`: torque = gain * motor strength * command (pybullet_envs' robots);
- :class:`PDActuator`: joint position targets ``default + scale * command`` tracked by
  ``kp * (target - q) - kd * dq``, clipped to the torque limit (legged_gym's A1);
- :class:`DelayedActuator`: wraps either, holding commands for a whole number of physics
  steps (``action_latency_s``).

Both robot actuators say which joints they drive (``client``, ``body``, ``joints``), what
torque they command (:meth:`commanded_torques`, before :meth:`apply` writes it) and what they
applied (``torques``), so a non-ideal motor can wrap them (:mod:`sim2real.envs.motors`).
"""

from __future__ import annotations

import collections
import functools
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from sim2real.envs.bullet import pybullet


class Actuator(Protocol):
    parameters: tuple[str, ...]  # catalogue parameters this actuator consumes
    joints: tuple[int, ...]  # the joints it drives (of one body)
    torques: np.ndarray  # the torques the last apply() wrote

    def nominal(self) -> dict[str, np.ndarray]:
        """Nominal values of parameters whose catalogue default does not fit (PD gains)."""
        ...

    def configure(self, values: Mapping[str, np.ndarray]) -> None:
        """Take this episode's (or this interval's) parameter values."""
        ...

    def reset(self) -> None:
        """Forget commands in flight (a new episode)."""
        ...

    def send(self, command: np.ndarray) -> None:
        """A new command, one per action, in the action space's bounds."""
        ...

    def apply(self) -> None:
        """Write joint torques for the next physics step."""
        ...

    def describe(self) -> dict[str, Any]:
        """What a command means physically, at nominal values (an exported policy's contract)."""
        ...

    @property
    def in_effect(self) -> np.ndarray:
        """The command the last :meth:`apply` acted on (what a reward charges for)."""
        ...


class JointFriction:
    """Dry friction through PyBullet's velocity motors (target velocity 0, force = friction).

    The velocity motor and torque control act together, so a motor with force F resists
    any motion with up to F N*m (checked in the env tests); 0 is the motors disabled.
    """

    def __init__(self, client: Any, body: int, joints: Sequence[int]):
        self._set = functools.partial(
            client.setJointMotorControlArray, body, list(joints), pybullet.VELOCITY_CONTROL
        )
        self._applied = np.zeros(len(joints))

    def configure(self, friction: np.ndarray) -> None:
        if not np.array_equal(friction, self._applied):
            zeros = [0.0] * len(friction)
            self._set(targetVelocities=zeros, forces=friction.tolist())
            self._applied = friction.copy()


class TorqueActuator:
    """torque_i = gain_i * motor_strength_i * command_i, held for the control step."""

    parameters: tuple[str, ...] = ("motor_strength", "joint_friction")

    def __init__(self, client: Any, body: int, joints: Sequence[int], gains: Sequence[float]):
        self.client, self.body, self.joints = client, body, tuple(joints)
        self._set_torques = functools.partial(
            client.setJointMotorControlArray, body, list(joints), pybullet.TORQUE_CONTROL
        )
        self._friction = JointFriction(client, body, joints)
        self._gains = [float(g) for g in gains]
        self._units = [
            "N" if client.getJointInfo(body, joint)[2] == pybullet.JOINT_PRISMATIC else "N*m"
            for joint in joints
        ]
        self._scaled_gains = list(self._gains)
        self._command = np.zeros(len(joints))
        self._torques: list[float] = [0.0] * len(joints)

    def nominal(self) -> dict[str, np.ndarray]:
        return {}

    def configure(self, values: Mapping[str, np.ndarray]) -> None:
        strengths = values["motor_strength"].tolist()
        self._scaled_gains = [g * s for g, s in zip(self._gains, strengths, strict=True)]
        self._friction.configure(values["joint_friction"])

    def reset(self) -> None:
        self._command = np.zeros_like(self._command)

    def send(self, command: np.ndarray) -> None:
        self._command = command
        # Python floats: the original robots' exact torques, without numpy overhead per step.
        self._torques = [g * c for g, c in zip(self._scaled_gains, command.tolist(), strict=True)]

    def apply(self) -> None:
        self._set_torques(forces=self._torques)

    def commanded_torques(self) -> np.ndarray:
        return np.array(self._torques)

    @property
    def torques(self) -> np.ndarray:
        """The torques the last :meth:`apply` wrote."""
        return np.array(self._torques)

    def describe(self) -> dict[str, Any]:
        return {
            "kind": "torque",
            "law": "effort = torque_scale * motor_strength * action (motor_strength 1 nominal)",
            "torque_scale": list(self._gains),
            "units": list(self._units),  # of the effort: N on prismatic, N*m on revolute joints
        }

    @property
    def in_effect(self) -> np.ndarray:
        return self._command


class PDActuator:
    """Position targets around a default pose, tracked by a PD law evaluated every physics step.

    torque = clip(strength * (kp * (default + scale * command - q) - kd * dq), +-torque_limit)
    """

    parameters: tuple[str, ...] = ("motor_strength", "joint_friction", "kp", "kd", "torque_limit")

    def __init__(
        self,
        client: Any,
        body: int,
        joints: Sequence[int],
        *,
        kp: Sequence[float],
        kd: Sequence[float],
        torque_limit: Sequence[float],
        default_pose: Sequence[float],
        action_scale: float,
    ):
        self.client, self.body, self.joints = client, body, tuple(joints)
        self._read = functools.partial(client.getJointStates, body, list(joints))
        self._set_torques = functools.partial(
            client.setJointMotorControlArray, body, list(joints), pybullet.TORQUE_CONTROL
        )
        self._friction = JointFriction(client, body, joints)
        self._nominal = {
            "kp": np.asarray(kp, dtype=np.float64),
            "kd": np.asarray(kd, dtype=np.float64),
            "torque_limit": np.asarray(torque_limit, dtype=np.float64),
        }
        self.default_pose = np.asarray(default_pose, dtype=np.float64)
        self.action_scale = float(action_scale)
        self._gains = dict(self._nominal)
        self._strength = np.ones(len(joints))
        self._command = np.zeros(len(joints))
        self._target = self.default_pose.copy()
        self.torques = np.zeros(len(joints))  # the last torques applied (for energy rewards)

    def nominal(self) -> dict[str, np.ndarray]:
        return {name: array.copy() for name, array in self._nominal.items()}

    def configure(self, values: Mapping[str, np.ndarray]) -> None:
        self._gains = {name: values[name] for name in ("kp", "kd", "torque_limit")}
        self._strength = values["motor_strength"]
        self._friction.configure(values["joint_friction"])

    def reset(self) -> None:
        self.send(np.zeros_like(self._command))

    def send(self, command: np.ndarray) -> None:
        self._command = command
        self._target = self.default_pose + self.action_scale * command

    def apply(self) -> None:
        self.torques = self.commanded_torques()
        self._set_torques(forces=self.torques.tolist())

    def commanded_torques(self) -> np.ndarray:
        """The PD law on the joints' present state, clipped to the torque limit."""
        states = self._read()
        q = np.fromiter((s[0] for s in states), np.float64, len(states))
        dq = np.fromiter((s[1] for s in states), np.float64, len(states))
        gains = self._gains
        torque = self._strength * (gains["kp"] * (self._target - q) - gains["kd"] * dq)
        return np.clip(torque, -gains["torque_limit"], gains["torque_limit"])

    def describe(self) -> dict[str, Any]:
        return {
            "kind": "pd_position",
            "law": "torque = clip(kp * (default_pose + action_scale * action - q) - kd * dq, "
            "+-torque_limit)",
            "kp": self._nominal["kp"].tolist(),
            "kd": self._nominal["kd"].tolist(),
            "action_scale": self.action_scale,
            "default_pose": self.default_pose.tolist(),
            "torque_limit": self._nominal["torque_limit"].tolist(),
            "units": {
                "kp": "N*m/rad",
                "kd": "N*m*s/rad",
                "default_pose": "rad",
                "torque_limit": "N*m",
                "action_scale": "rad",
            },
        }

    @property
    def in_effect(self) -> np.ndarray:
        return self._command


class DelayedActuator:
    """Holds every command for ``round(action_latency_s / physics_dt)`` physics steps.

    A FIFO of the commands sent at each physics step: the one applied now was sent that many
    steps ago; at the start of an episode the robot has received zeros. A latency that
    changes mid-episode keeps the commands in flight: a longer delay repeats the oldest, a
    shorter one drops the oldest, so the new delay applies from the next step.
    """

    def __init__(self, inner: Actuator, physics_dt: float):
        self.inner = inner
        self.parameters = (*inner.parameters, "action_latency_s")
        self._physics_dt = physics_dt
        self._zero = np.zeros_like(inner.in_effect)
        self._latest = self._zero
        self._pending: collections.deque[np.ndarray] = collections.deque()
        self.latency_steps = 0
        self._values: Mapping[str, np.ndarray] | None = None
        self._torque_sum: np.ndarray | None = None  # summing applied torques (recording)
        self._torque_steps = 0

    def nominal(self) -> dict[str, np.ndarray]:
        return self.inner.nominal()

    def replace_inner(self, inner: Actuator) -> None:
        """Drive the joints with another actuator (same parameters), configured as now."""
        self.inner = inner
        if self._values is not None:
            inner.configure(self._values)
        inner.reset()

    def measure_torques(self) -> None:
        """From now on, sum the torques applied at every physics step (for recording)."""
        self._torque_sum = np.zeros(len(self.inner.joints))
        self._torque_steps = 0

    def mean_applied_torques(self) -> np.ndarray:
        """Mean torque applied over the physics steps since the last call (needs measuring)."""
        if self._torque_sum is None:
            raise RuntimeError("call measure_torques() first")
        mean = self._torque_sum / max(1, self._torque_steps)
        self._torque_sum = np.zeros_like(self._torque_sum)
        self._torque_steps = 0
        return mean

    def describe(self) -> dict[str, Any]:
        return self.inner.describe()

    def configure(self, values: Mapping[str, np.ndarray]) -> None:
        self._values = values
        self.inner.configure(values)
        self.latency_steps = round(float(values["action_latency_s"][0]) / self._physics_dt)
        while len(self._pending) > self.latency_steps:
            self._pending.popleft()
        while len(self._pending) < self.latency_steps:
            self._pending.appendleft(self._pending[0] if self._pending else self._zero)

    def reset(self) -> None:
        self.inner.reset()
        self._latest = self._zero
        self._pending = collections.deque([self._zero] * self.latency_steps)

    def send(self, command: np.ndarray) -> None:
        self._latest = command
        if not self._pending:
            self.inner.send(command)

    def apply(self) -> None:
        if self._pending:
            self._pending.append(self._latest)
            self.inner.send(self._pending.popleft())
        self.inner.apply()
        if self._torque_sum is not None:
            self._torque_sum += self.inner.torques
            self._torque_steps += 1

    @property
    def in_effect(self) -> np.ndarray:
        return self.inner.in_effect

    @property
    def commands_in_flight(self) -> int:
        return len(self._pending)
