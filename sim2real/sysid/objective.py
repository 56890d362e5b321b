"""The identification objective: how well candidate dynamics reproduce recorded motion.

Each episode is cut into segments of ``horizon`` steps. A segment starts from a recorded
state, written into the simulator exactly (:class:`~sim2real.state.StateIO`), and replays the
recorded actions through the env's own ``step`` (actuator, latency FIFO, sub-steps), so the
simulated states after each step can be compared with the recorded ones. The error of each
state dimension is divided by that dimension's spread in the data (dimensions that never
change are left out), so joint angles, velocities and the base pose weigh alike; the loss is
the mean squared normalized error over every predicted state.

When the data hold the torque each joint received (what a torque sensor or a motor-current
estimate reads; ``record`` stores it) and ``torques`` is on, the simulated torques of each
step join the error as further dimensions, normalized the same way. They fix what motion
alone cannot: motion is unchanged when every mass and torque scale together, but a measured
torque pins the torque scale (the motor strength), and with it the masses.

The env is reset once; before each segment the snapshot taken after that reset is restored
(the same contact caches for every segment, so a loss does not depend on evaluation order),
the actuator forgets its commands and, when a latency holds commands in flight, the steps
just before the segment are replayed from their recorded states to fill the FIFO.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import gymnasium as gym
import numpy as np

from sim2real.data import RecordedData, check_env
from sim2real.errors import UserError
from sim2real.state import (
    STATE_FIELDS,
    StateIO,
    actuated_joint_names,
    field_columns,
    state_vector,
)
from sim2real.sysid.space import SearchSpace

__all__ = ["NON_FINITE_ERROR", "Replayer", "Segment", "check_torque_joints", "segments"]

# Normalized error given to a state the simulation could not compute (it blew up).
NON_FINITE_ERROR = 1e3


@dataclass(frozen=True)
class Segment:
    episode: int
    step: int  # global index of its first step (into actions)
    length: int  # steps, at most the horizon
    episode_step: int  # global index of the episode's first step


def segments(data: RecordedData, horizon: int) -> list[Segment]:
    """Each episode cut into consecutive segments of ``horizon`` steps (the last may be shorter)."""
    found = []
    for episode, length in enumerate(data.episode_lengths.tolist()):
        first = data.step_start(episode)
        for offset in range(0, length, horizon):
            found.append(Segment(episode, first + offset, min(horizon, length - offset), first))
    return found


def normalization(recorded: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-dimension scale (the data's standard deviation) and weight (0: never changes)."""
    scale = recorded.std(axis=0)
    active = scale > 1e-8 * np.maximum(1.0, np.abs(recorded).max(axis=0))
    return np.where(active, scale, 1.0), active.astype(np.float64)


class Replayer:
    """Replays the segments of recorded data in one env, under candidate dynamics."""

    def __init__(
        self,
        data: RecordedData,
        space: SearchSpace,
        horizon: int,
        where: str = "data",
        torques: bool = True,
    ):
        self.env = gym.make(data.env_id)  # no randomization: set_dynamics values hold
        check_env(data, self.env, where)
        self._env = self.env.unwrapped
        # Measured torques as (steps, joints), when the data hold them and they are wanted.
        self.torques = data.joint_torques if torques else None
        if self.torques is not None:
            check_torque_joints(data, self._env, where)
            self._env.actuator.measure_torques()
            self.torque_scale, self.torque_weight = normalization(self.torques)
        self._env.set_dynamics(space.fixed)
        self._env.reset(seed=0)
        self._io = StateIO(self._env)
        self._snapshot = self._env.client.saveState()
        self.space = space
        self.data = data
        self.segments = segments(data, horizon)
        rows = data.steps + data.episodes
        self._rows = [{k: data.state[k][i] for k in STATE_FIELDS} for i in range(rows)]
        recorded = data.state_matrix()
        self.scale, self.weight = normalization(recorded)
        # The recorded state after each step: row step + episode + 1.
        episode_of_step = np.repeat(np.arange(data.episodes), data.episode_lengths)
        self.after_step = np.arange(data.steps) + episode_of_step + 1
        self.target = recorded[self.after_step]
        self._quaternion = field_columns(len(data.joint_names))["base_orientation"]

    def close(self) -> None:
        self.env.close()

    @property
    def dimensions(self) -> float:
        """Error dimensions that count: changing state dimensions, and torques when used."""
        torques = 0.0 if self.torques is None else float(self.torque_weight.sum())
        return float(self.weight.sum()) + torques

    def simulate(self, values: np.ndarray) -> np.ndarray:
        """The state after every recorded step, each segment replayed from its recorded start:
        ``(steps, dims)``, rows in step order."""
        return self._replay(values)[0]

    def _replay(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """States after every step and, when torques are used, the mean torque each joint
        received during it ``(steps, joints)``."""
        self._env.set_dynamics(self.space.named(values))
        actuator = self._env.actuator
        warm_up = math.ceil(actuator.latency_steps / self._env.physics_steps_per_action)
        predicted = np.empty_like(self.target)
        torques = None if self.torques is None else np.empty_like(self.torques)
        for segment in self.segments:
            self._env.client.restoreState(self._snapshot)
            actuator.reset()
            for step in range(max(segment.episode_step, segment.step - warm_up), segment.step):
                self._io.write(self._rows[step + segment.episode])
                self._env.step(self.data.actions[step])
            self._io.write(self._rows[segment.step + segment.episode])
            if torques is not None:
                actuator.mean_applied_torques()  # forget the warm-up's torques
            for step in range(segment.step, segment.step + segment.length):
                self._env.step(self.data.actions[step])
                predicted[step] = state_vector(self._io.read())[0]
                if torques is not None:
                    torques[step] = actuator.mean_applied_torques()
        return predicted, torques

    def residuals(self, values: np.ndarray) -> np.ndarray:
        """Normalized errors ``(steps, dims)``, the torques' after the states' when used;
        dimensions that never change are zero."""
        predicted, torques = self._replay(values)
        quaternion = predicted[:, self._quaternion]
        # q and -q are one rotation: compare with the sign closer to the recorded one.
        sign = np.sign(np.sum(quaternion * self.target[:, self._quaternion], axis=1))
        predicted[:, self._quaternion] = quaternion * np.where(sign < 0, -1.0, 1.0)[:, None]
        errors = (predicted - self.target) / self.scale * self.weight
        if torques is not None:
            torque_errors = (torques - self.torques) / self.torque_scale * self.torque_weight
            errors = np.hstack([errors, torque_errors])
        return np.where(np.isfinite(errors), errors, NON_FINITE_ERROR)

    def loss(self, values: np.ndarray) -> float:
        """Mean squared normalized error over every predicted step and counted dimension."""
        errors = self.residuals(values)
        return float(np.sum(errors**2) / (len(errors) * max(1.0, self.dimensions)))


def check_torque_joints(data: RecordedData, env: gym.Env, where: str) -> None:
    """Measured torques must come in the order of the joints the env's actuator drives."""
    driven = actuated_joint_names(env.unwrapped)
    if data.actuated_joint_names != driven:
        raise UserError(
            f"{where}: torques recorded for joints {list(data.actuated_joint_names)}, but "
            f"{data.env_id} drives {list(driven)}; record data on the env you identify"
        )
