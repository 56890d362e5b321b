"""Base class of every sim2real world: one DIRECT BulletClient, domain randomization, step loop.

A subclass describes its robot through five hooks:

- ``_load(client) -> ModelHandles``: physics settings, scene and robot, motors disabled;
- ``_reset_robot()``: initial state after the snapshot is restored (may use ``np_random``);
- ``_actuate(command, motor_strength)``: write joint torques for one control step;
- ``_observe() -> np.ndarray``: the noise-free observation;
- ``_reward(command) -> (terms, terminated)``: itemized reward and termination.

The base class owns everything the robot should not care about: the snapshot taken after
loading (fast resets), sampling and applying dynamics, action latency and noise,
observation noise, non-finite guards and rendering.
"""

from __future__ import annotations

import abc
import collections
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from sim2real.envs.bullet import BulletClient, pybullet
from sim2real.envs.quiet import quiet_c_stdout
from sim2real.randomization import (
    BoundSpec,
    ModelHandles,
    RandomizationSpec,
    apply_dynamics,
    bind,
    from_named,
    load_spec,
    parse_spec,
    read_nominal,
    sample,
    to_named,
)
from sim2real.randomization.apply import dynamics_layout
from sim2real.randomization.dynamics import Dynamics, NamedDynamics, copy_dynamics

RandomizationArg = RandomizationSpec | str | Path | Mapping[str, Any] | list | None


def coerce_spec(randomization: RandomizationArg) -> RandomizationSpec:
    """Accept a spec object, a YAML path, inline data, or None (no randomization)."""
    if isinstance(randomization, RandomizationSpec):
        return randomization
    if isinstance(randomization, str | Path):
        return load_spec(randomization)
    return parse_spec(randomization)


class BulletEnv(gym.Env, abc.ABC):
    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": 30}

    control_dt: ClassVar[float]
    gravity_z: ClassVar[float] = -9.8
    observation_names: ClassVar[tuple[str, ...]]
    action_names: ClassVar[tuple[str, ...]]
    render_size: ClassVar[tuple[int, int]] = (320, 240)
    # Nominal values the env declares on top of its model file, e.g. a cart's rail friction.
    nominal_overrides: ClassVar[Mapping[str, Any]] = {}
    # Catalogue parameters with no effect in this world (e.g. friction without contacts).
    unsupported_parameters: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, randomization: RandomizationArg = None, render_mode: str | None = None):
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode {render_mode!r} is not supported; use 'rgb_array'")
        self.render_mode = render_mode
        with quiet_c_stdout():
            self.client = BulletClient(connection_mode=pybullet.DIRECT)
        self.handles = self._load(self.client)
        self.layout = dynamics_layout(
            self.handles, self.observation_names, self.action_names, self.unsupported_parameters
        )
        as_loaded = {
            name: values
            for name, values in read_nominal(
                self.client, self.handles, self.gravity_z, len(self.observation_names)
            ).items()
            if name in self.layout.elements
        }
        self.nominal = from_named(self.nominal_overrides, self.layout, as_loaded)
        apply_dynamics(self.client, self.handles, self.nominal, as_loaded)
        self.randomization: BoundSpec = bind(
            coerce_spec(randomization), self.layout, self.nominal, self.control_dt
        )
        self._base = copy_dynamics(self.nominal)  # what reset terms randomize around
        self._values = copy_dynamics(self.nominal)  # this episode's dynamics
        self._applied = copy_dynamics(self.nominal)  # what the simulator holds now
        self._snapshot = self.client.saveState()
        self._startup_drawn = False
        self._dynamics_rng = np.random.default_rng()
        # Interval terms also draw at reset, so no stretch of an episode runs on nominal values.
        self._per_episode_terms = self.randomization.when("reset") + self.randomization.when(
            "interval"
        )
        self._interval_terms = self.randomization.when("interval")
        self._values_current = False  # do this episode's values still need to be drawn/applied?
        self._named_values: NamedDynamics = to_named(self._values, self.layout)
        self._action_noise = self._observation_noise = False
        self._no_command = np.zeros(len(self.action_names))
        self._pending: collections.deque[np.ndarray] = collections.deque()
        self._latency_steps = 0
        self._steps = 0

    # -- gymnasium API -------------------------------------------------------------------

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        if seed is not None or not self._startup_drawn:
            self._dynamics_rng = self._spawn_dynamics_rng()
        if not self._startup_drawn:
            self._base = sample(self.randomization.when("startup"), self._base, self._dynamics_rng)
            self._startup_drawn = True
            self._values_current = False
        self.client.restoreState(self._snapshot)
        if self._per_episode_terms or not self._values_current:
            self._set_values(sample(self._per_episode_terms, self._base, self._dynamics_rng))
            self._values_current = True
        self._pending = collections.deque([self._no_command] * self._latency_steps)
        self._steps = 0
        self._reset_robot()
        observation = self._noisy(self._observe())
        return observation, {"dynamics": self.get_dynamics()}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        command = self._delayed(self._noisy_action(np.asarray(action, dtype=np.float64)))
        self._actuate(command, self._values["motor_strength"])
        self.client.stepSimulation()
        self._steps += 1
        self._apply_interval_terms()
        observation = self._observe()
        terms, terminated = self._reward(command)
        reward = float(sum(terms.values()))
        info: dict[str, Any] = {"reward_terms": terms}
        # One scalar check covers every entry: a sum with a NaN or inf is not finite.
        if not (math.isfinite(observation.sum()) and math.isfinite(reward)):
            # The simulation blew up: end the episode rather than hand NaNs to the learner.
            observation = np.zeros_like(observation)
            reward, terminated, info["non_finite"] = 0.0, True, True
            info["reward_terms"] = dict.fromkeys(terms, 0.0)
        return self._noisy(observation), reward, terminated, False, info

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array":
            return None
        width, height = self.render_size
        view = self.client.computeViewMatrixFromYawPitchRoll(
            self._camera_target(), 2.5, 0.0, -15.0, 0.0, 2
        )
        projection = self.client.computeProjectionMatrixFOV(60, width / height, 0.1, 100.0)
        _, _, rgba, _, _ = self.client.getCameraImage(
            width, height, view, projection, renderer=pybullet.ER_TINY_RENDERER
        )
        return np.asarray(rgba, dtype=np.uint8).reshape(height, width, 4)[:, :, :3]

    def close(self) -> None:
        if getattr(self, "client", None) is not None:
            self.client.disconnect()
            self.client = None

    # -- dynamics ------------------------------------------------------------------------

    def get_dynamics(self) -> NamedDynamics:
        """This episode's dynamics by parameter and element name (JSON-ready; do not mutate)."""
        return self._named_values

    def set_dynamics(self, values: Mapping[str, Any]) -> None:
        """Fix exact values (e.g. a target's); later resets randomize around them, if at all."""
        self._base = from_named(values, self.layout, self._base)
        self._set_values(copy_dynamics(self._base))
        self._values_current = True

    @property
    def dynamics_values(self) -> Dynamics:
        return copy_dynamics(self._values)

    def _set_values(self, values: Dynamics) -> None:
        apply_dynamics(self.client, self.handles, values, self._applied)
        self._applied = values  # never mutated: every new episode's values are a fresh dict
        self._values = values
        self._named_values = to_named(values, self.layout)
        # Cached so the step loop does not test the noise arrays every step.
        self._action_noise = bool(values["action_noise_std"].any())
        self._observation_noise = bool(values["observation_noise_std"].any())
        self._latency_steps = round(float(values["action_latency_s"][0]) / self.control_dt)
        self._pending = collections.deque([self._no_command] * self._latency_steps)

    def _spawn_dynamics_rng(self) -> np.random.Generator:
        """A stream for dynamics, separate so turning noise on never changes the dynamics drawn.

        Spawned from the seed sequence, which draws nothing from ``np_random``: the robot's
        initial state for a seed is the same with or without randomization.
        """
        seed_sequence = getattr(self.np_random.bit_generator, "seed_seq", None)
        if isinstance(seed_sequence, np.random.SeedSequence):
            return np.random.default_rng(seed_sequence.spawn(1)[0])
        return np.random.default_rng(self.np_random.integers(2**63))

    def _apply_interval_terms(self) -> None:
        due = [
            bound
            for bound in self._interval_terms
            if self._steps % max(1, round(bound.term.interval_s / self.control_dt)) == 0
        ]
        if due:
            values = sample(due, self._base, self._dynamics_rng)
            merged = copy_dynamics(self._values)
            for bound in due:
                name = bound.term.parameter
                merged[name][bound.indices] = values[name][bound.indices]
            in_flight = self._pending
            self._set_values(merged)
            self._pending = self._resized(in_flight)

    def _resized(self, in_flight: collections.deque[np.ndarray]) -> collections.deque[np.ndarray]:
        """Commands in flight kept across a latency change: a longer delay repeats the oldest
        command, a shorter one drops the oldest, so the new delay applies from the next step."""
        while len(in_flight) > self._latency_steps:
            in_flight.popleft()
        while len(in_flight) < self._latency_steps:
            in_flight.appendleft(in_flight[0] if in_flight else self._no_command)
        return in_flight

    # -- action and observation channels ----------------------------------------------

    def _noisy_action(self, action: np.ndarray) -> np.ndarray:
        if self._action_noise:
            std = self._values["action_noise_std"]
            action = action + self.np_random.normal(0.0, 1.0, action.shape) * std
        return action.clip(-1.0, 1.0)

    def _delayed(self, command: np.ndarray) -> np.ndarray:
        """A FIFO of ``latency_steps`` commands: the one applied now was sent that long ago."""
        if not self._pending:
            return command
        self._pending.append(command)
        return self._pending.popleft()

    def _noisy(self, observation: np.ndarray) -> np.ndarray:
        if self._observation_noise:
            std = self._values["observation_noise_std"]
            observation = observation + self.np_random.normal(0.0, 1.0, observation.shape) * std
        space = self.observation_space
        return observation.clip(space.low, space.high).astype(np.float32)

    # -- robot hooks -------------------------------------------------------------------

    @abc.abstractmethod
    def _load(self, client: BulletClient) -> ModelHandles:
        """Set physics, load scene and robot, disable default motors; return the handles."""

    @abc.abstractmethod
    def _reset_robot(self) -> None:
        """Put the robot in its initial state (the snapshot is already restored)."""

    @abc.abstractmethod
    def _actuate(self, command: np.ndarray, motor_strength: np.ndarray) -> None:
        """Write joint torques for one control step; ``command`` is clipped to [-1, 1]."""

    @abc.abstractmethod
    def _observe(self) -> np.ndarray:
        """The noise-free observation."""

    @abc.abstractmethod
    def _reward(self, command: np.ndarray) -> tuple[dict[str, float], bool]:
        """Itemized reward terms (summing to the reward) and whether the episode terminated."""

    def _camera_target(self) -> list[float]:
        return [0.0, 0.0, 0.5]
