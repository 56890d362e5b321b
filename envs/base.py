"""Base class of every sim2real world: one DIRECT BulletClient, domain randomization, step loop.

A subclass describes its robot through six hooks:

- ``_load(client) -> ModelHandles``: physics settings, scene and robot, motors disabled;
- ``_make_actuator(client, handles) -> Actuator``: how commands become torques;
- ``_reset_robot()``: initial state after the snapshot is restored (may use ``np_random``);
- ``_observe() -> np.ndarray``: the noise-free observation;
- ``_reward(command) -> (terms, terminated)``: itemized reward and termination;
- ``_camera_target()``: where the camera looks.

The base class owns everything the robot should not care about: the snapshot taken after
loading (fast resets), sampling and applying dynamics, events, the action channel (noise,
clipping), the actuator's latency, ``physics_steps_per_action`` physics steps per action
with the actuator evaluated before each, the observation channels, non-finite guards and
rendering.
"""

from __future__ import annotations

import abc
import functools
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from sim2real.envs.actuators import Actuator, DelayedActuator
from sim2real.envs.bullet import BoundClient, BulletClient, pybullet
from sim2real.envs.channels import (
    ActionChannel,
    ObservationBias,
    ObservationChannel,
    ObservationDelay,
    ObservationNoise,
)
from sim2real.envs.jitter import ControlJitter
from sim2real.envs.privileged import BOUND as PRIVILEGED_BOUND
from sim2real.envs.privileged import PrivilegedLayout, privileged_layout
from sim2real.envs.quiet import quiet_c_stdout
from sim2real.envs.terrain import Terrain, TerrainGrid
from sim2real.errors import UserError, short_repr
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
from sim2real.randomization.apply import ModelNames, dynamics_layout
from sim2real.randomization.binding import check_values
from sim2real.randomization.dynamics import Dynamics, NamedDynamics, copy_dynamics
from sim2real.randomization.events import EVENTS
from sim2real.randomization.sampling import Sampler, draw_event, draw_period

RandomizationArg = RandomizationSpec | str | Path | Mapping[str, Any] | list | None
# True: privileged entries normalized to the env's own spec; a spec: to that one's ranges
# (an evaluation env on a target keeps the layout of the spec its policy trained under).
PrivilegedArg = bool | RandomizationArg


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
    # stepSimulation calls per action, each preceded by the actuator (a PD loop faster than
    # the policy); the robot's ``_load`` sets PyBullet's time step to ``physics_dt``.
    physics_steps_per_action: ClassVar[int] = 1
    gravity_z: ClassVar[float] = -9.8
    observation_names: ClassVar[tuple[str, ...]]
    action_names: ClassVar[tuple[str, ...]]
    # Units of the observation entries where a robot declares them (an exported contract's).
    observation_units: ClassVar[Mapping[str, str]] = {}
    render_size: ClassVar[tuple[int, int]] = (320, 240)
    # Nominal values the env declares on top of its model file, e.g. a cart's rail friction.
    nominal_overrides: ClassVar[Mapping[str, Any]] = {}
    # Catalogue parameters with no effect in this world (e.g. friction without contacts).
    unsupported_parameters: ClassVar[frozenset[str]] = frozenset()
    # What a teacher may know that a robot does not measure (see envs/privileged.py).
    privileged_state_names: ClassVar[tuple[str, ...]] = ()
    # Where rough terrain lies (envs/terrain.py); None: the world has no terrain term.
    terrain_grid: ClassVar[TerrainGrid | None] = None

    def __init__(
        self,
        randomization: RandomizationArg = None,
        render_mode: str | None = None,
        privileged: PrivilegedArg = False,
        actuator: Mapping[str, Any] | None = None,
    ):
        if render_mode not in (None, "rgb_array"):
            raise UserError(f"render_mode {render_mode!r} is not supported; use 'rgb_array'")
        self.render_mode = render_mode
        with quiet_c_stdout():
            self.client = BulletClient(connection_mode=pybullet.DIRECT)
        self.handles = self._load(self.client)
        self._writer = BoundClient(self.client)  # what the DR engine writes through
        self._step_physics = self.client.stepSimulation  # bound once: it runs every step
        self.ideal_actuator = self._make_actuator(self.client, self.handles)
        self.actuator = DelayedActuator(self.ideal_actuator, self.physics_dt)
        self.layout = dynamics_layout(
            self.handles,
            ModelNames(
                self.observation_names,
                self.action_names,
                self.actuator.parameters,
                self.unsupported_parameters
                | (frozenset() if self.terrain_grid else {"terrain_roughness_m"}),
            ),
        )
        as_loaded = read_nominal(self.client, self.handles, self.layout)
        declared = {k: v for k, v in self.actuator.nominal().items() if k in self.layout.elements}
        self.nominal = from_named(self.nominal_overrides, self.layout, {**as_loaded, **declared})
        apply_dynamics(self.client, self.handles, self.nominal, as_loaded)
        self._action_channel = ActionChannel(self.action_space.low, self.action_space.high)
        self._observation_channels = self._make_observation_channels()
        self._active_channels: list[ObservationChannel] = []  # the step loop's
        self._jitter = ControlJitter(self.client, self.control_dt, self.physics_steps_per_action)
        self._terrain: Terrain | None = None  # made when rough ground is first asked for
        self._roughness_m = 0.0
        self._grounds: tuple[int, ...] = ()
        if self.handles.floor is not None:  # bound now: unwrapped, step may come before reset
            self._grounds = (self.handles.floor.body,)
            self._bind_ground_contacts(self._grounds)
        self._snapshot = self.client.saveState()
        self._fixed = copy_dynamics(self.nominal)  # nominal, or what set_dynamics fixed
        self._applied = copy_dynamics(self.nominal)  # what the simulator holds now
        self._dynamics_rng: np.random.Generator | None = None
        self._events_rng = np.random.default_rng()
        self._next_event_step: list[int] = []
        self._steps = 0
        self._privileged: PrivilegedLayout | None = None
        # float64, as the observation is: clipping across dtypes takes numpy's slow path.
        space = self.observation_space
        self._observation_bounds = (space.low.astype(np.float64), space.high.astype(np.float64))
        self.set_randomization(randomization)
        self._set_values(copy_dynamics(self.nominal))
        if actuator is not None:
            self.set_actuator(actuator)
        if privileged is not False and privileged is not None:
            self._add_privileged_observation(privileged)

    def set_actuator(self, actuator: Mapping[str, Any] | None, where: str = "actuator") -> None:
        """Drive the robot through a DC motor or a learned actuator network (see
        :mod:`sim2real.envs.motors`) wrapping its own actuator; None: its own again.

        ``UserError`` (one line, prefixed with ``where``) for a bad mapping.
        """
        from sim2real.envs.motors import build_actuator

        inner = self.ideal_actuator
        if actuator is not None:
            steps = self.physics_steps_per_action
            inner = build_actuator(actuator, inner, self.physics_dt, where, steps)
        self.actuator.replace_inner(inner)

    def _make_observation_channels(self) -> list[ObservationChannel]:
        """Delay, bias and noise, each where the world supports its parameter."""
        channels: dict[str, Callable[[], ObservationChannel]] = {
            "observation_delay_s": lambda: ObservationDelay(self.control_dt),
            "observation_bias": ObservationBias,
            "observation_noise_std": ObservationNoise,
        }
        return [make() for name, make in channels.items() if name in self.layout.elements]

    @property
    def physics_dt(self) -> float:
        """Duration of one physics step (one ``stepSimulation`` call)."""
        return self.control_dt / self.physics_steps_per_action

    # -- gymnasium API -------------------------------------------------------------------

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        if seed is not None or self._dynamics_rng is None:
            self._spawn_rngs()
        if not self._startup_drawn:
            self._base = sample(self.randomization.when("startup"), self._fixed, self._dynamics_rng)
            self._startup_drawn = True
            self._values_current = False
        self.client.restoreState(self._snapshot)
        if self._per_episode_terms or not self._values_current:
            self._set_values(self._sample_episode(self._base, self._dynamics_rng))
            self._values_current = True
        self.actuator.reset()
        self._steps = 0
        self._lay_ground()
        self._reset_robot()
        info: dict[str, Any] = {"dynamics": self.get_dynamics()}
        if self.randomization.events:
            fired = self._start_events()
            if fired:
                info["events"] = fired
        observation = self._observe()
        for channel in self._observation_channels:
            observation = channel.reset(observation, self.np_random)
        return self._clipped(observation), info

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        command = self._action_channel(np.asarray(action, dtype=np.float64), self.np_random)
        self.actuator.send(command)
        fired = self._due_events() if self._next_event_step else None
        if self._jitter.jitter_s:
            self._jitter.next_period(self._jitter_rng)
        for _ in range(self.physics_steps_per_action):
            self.actuator.apply()
            self._step_physics()
        self._steps += 1
        if self._interval_terms:
            self._apply_interval_terms()
        observation = self._observe()
        terms, terminated = self._reward(self.actuator.in_effect)
        reward = float(sum(terms.values()))
        info: dict[str, Any] = {"reward_terms": terms}
        if fired:
            info["events"] = fired
        # One scalar check covers every entry: a sum with a NaN or inf is not finite.
        if not (math.isfinite(observation.sum()) and math.isfinite(reward)):
            # The simulation blew up: end the episode rather than hand NaNs to the learner.
            observation = np.zeros_like(observation)
            reward, terminated, info["non_finite"] = 0.0, True, True
            info["reward_terms"] = dict.fromkeys(terms, 0.0)
        for channel in self._active_channels:
            observation = channel(observation, self.np_random)
        return self._clipped(observation), reward, terminated, False, info

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
        """This episode's dynamics by parameter and element name (a copy, JSON-ready)."""
        return to_named(self._values, self.layout)

    def set_dynamics(self, values: Mapping[str, Any]) -> None:
        """Fix exact values (e.g. a target's); later resets randomize around them, if at all.

        Everything is checked before anything changes: names, types, finiteness, physical
        bounds and whole physics steps for latencies; a bad payload raises ``UserError``.
        """
        fixed = from_named(values, self.layout, self._fixed, where="set_dynamics")
        for parameter in values:
            check_values(
                parameter, fixed[parameter], "set_dynamics", self.control_dt, self.physics_dt
            )
        base = from_named(values, self.layout, self._base, where="set_dynamics")
        self._fixed, self._base = fixed, base
        self._set_values(copy_dynamics(base))
        self._values_current = True

    def set_randomization(self, randomization: RandomizationArg) -> None:
        """Bind a new spec, validated as at construction; it applies from the next reset.

        Startup terms are drawn anew (around the nominal or ``set_dynamics`` values), so a
        re-centred or widened distribution (ADR, system identification) replaces the old one.
        """
        self.randomization: BoundSpec = bind(
            coerce_spec(randomization), self.layout, self.nominal, self.control_dt, self.physics_dt
        )
        # Interval terms also draw at reset, so no stretch of an episode runs on nominal values.
        self._per_episode_terms = self.randomization.when("reset") + self.randomization.when(
            "interval"
        )
        self._interval_terms = self.randomization.when("interval")
        self._sample_episode = Sampler(self._per_episode_terms)
        self._base = copy_dynamics(self._fixed)  # what reset terms randomize around
        self._startup_drawn = False
        self._values_current = False  # do this episode's values still need to be drawn/applied?
        self._next_event_step = []

    @property
    def dynamics_values(self) -> Dynamics:
        return copy_dynamics(self._values)

    def _add_privileged_observation(self, privileged: PrivilegedArg) -> None:
        spec = self.randomization
        if privileged is not True:
            try:
                given = coerce_spec(privileged)
            except UserError as error:
                raise UserError(
                    f"env kwarg 'privileged' = {short_repr(privileged)}; expected true, false or "
                    f"a randomization spec whose ranges normalize the entries ({error})"
                ) from None
            spec = bind(given, self.layout, self.nominal, self.control_dt, self.physics_dt)
        self._privileged = privileged_layout(
            spec, self.layout, self.nominal, self.privileged_state_names
        )
        self._privileged_dynamics = self._privileged.normalize(self._values)
        self.privileged_names = self._privileged.names
        extra = np.full(self._privileged.size, PRIVILEGED_BOUND, dtype=np.float32)
        low, high = self.observation_space.low, self.observation_space.high
        self.observation_space = spaces.Box(
            np.concatenate([low, -extra]), np.concatenate([high, extra]), dtype=np.float32
        )
        self.metadata = {
            **self.metadata,
            "privileged_observation_names": list(self.privileged_names),
        }

    def _privileged_state(self) -> np.ndarray:
        """The robot's privileged measurements, in ``privileged_state_names`` order."""
        return np.zeros(0)

    def _set_values(self, values: Dynamics) -> None:
        apply_dynamics(self._writer, self.handles, values, self._applied)
        self._applied = values  # never mutated: every new episode's values are a fresh dict
        self._values = values
        self.actuator.configure(values)
        self._jitter.configure(values)
        if "terrain_roughness_m" in values:  # laid at the next reset (_lay_ground)
            self._roughness_m = float(values["terrain_roughness_m"][0])
        self._action_channel.configure(values)
        for channel in self._observation_channels:
            channel.configure(values)
        self._active_channels = [c for c in self._observation_channels if c.active]
        if self._privileged is not None:
            self._privileged_dynamics = self._privileged.normalize(values)

    def _spawn_rngs(self) -> None:
        """Streams for dynamics and events, separate so turning noise or pushes on never
        changes the dynamics drawn.

        Spawned from the seed sequence, which draws nothing from ``np_random``: the robot's
        initial state for a seed is the same with or without randomization.
        """
        seed_sequence = getattr(self.np_random.bit_generator, "seed_seq", None)
        if isinstance(seed_sequence, np.random.SeedSequence):
            self._dynamics_rng = np.random.default_rng(seed_sequence.spawn(1)[0])
        else:
            self._dynamics_rng = np.random.default_rng(self.np_random.integers(2**63))
        events, jitter, terrain = self._dynamics_rng.bit_generator.seed_seq.spawn(3)
        self._events_rng = np.random.default_rng(events)
        self._jitter_rng = np.random.default_rng(jitter)
        self._terrain_rng = np.random.default_rng(terrain)

    def _lay_ground(self) -> None:
        """New rough ground when the episode's roughness is above zero (the snapshot just
        restored hides it otherwise), and the contact reads pointed at whatever is ground."""
        floor = self.handles.floor
        if floor is None:
            return
        grounds = (floor.body,)
        if self._roughness_m > 0.0:
            if self._terrain is None:
                assert self.terrain_grid is not None  # the layout has the term only then
                self._terrain = Terrain(self.client, self.terrain_grid, floor.body)
                # The reset snapshot must hold the new body (hidden): the state is the
                # snapshot's still, as the robot is not placed yet.
                self.client.removeState(self._snapshot)
                self._snapshot = self.client.saveState()
            self._terrain.show(self._roughness_m, self._terrain_rng)
            grounds = (floor.body, self._terrain.body)
        if grounds != self._grounds:
            self._grounds = grounds
            self._bind_ground_contacts(grounds)

    def _bind_ground_contacts(self, grounds: tuple[int, ...]) -> None:
        """Point the robot's ground-contact read at these bodies: one PyBullet call per ground
        for all links, which is cheaper than one per foot."""
        robot = self.handles.main_part.body
        self._ground_contact_reads: list[Callable[[], tuple]] = [
            functools.partial(self.client.getContactPoints, robot, ground) for ground in grounds
        ]

    def _links_on_ground(self) -> set[int]:
        """The robot's links touching the ground (floor or terrain) after the last step."""
        # point[3]: linkIndexA, the robot's link
        return {point[3] for read in self._ground_contact_reads for point in read()}

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
            self._set_values(merged)

    # -- events --------------------------------------------------------------------------

    def _start_events(self) -> list[dict[str, Any]]:
        """Fire reset events and schedule the first occurrence of interval events."""
        fired: list[dict[str, Any]] = []
        self._next_event_step = []
        for index, bound in enumerate(self.randomization.events):
            if bound.term.when == "reset":
                fired += self._fire(index)
                self._next_event_step.append(-1)  # never again this episode
            else:
                self._next_event_step.append(self._steps_to_next(index))
        if all(step < 0 for step in self._next_event_step):
            self._next_event_step = []  # nothing left to check in the step loop
        return fired

    def _due_events(self) -> list[dict[str, Any]]:
        fired: list[dict[str, Any]] = []
        for index, due_at in enumerate(self._next_event_step):
            if 0 <= due_at <= self._steps:
                fired += self._fire(index)
                self._next_event_step[index] = self._steps + self._steps_to_next(index)
        return fired

    def _steps_to_next(self, index: int) -> int:
        interval_s = self.randomization.events[index].term.interval_s
        assert interval_s is not None  # the spec requires it for interval events
        return max(1, round(draw_period(interval_s, self._events_rng) / self.control_dt))

    def _fire(self, index: int) -> list[dict[str, Any]]:
        bound = self.randomization.events[index]
        definition = EVENTS[bound.term.event]
        fired = []
        for link, vector in draw_event(bound, self._events_rng):
            definition.fire(self.client, self.handles.link(link), vector, self.physics_dt)
            fired.append({"event": definition.name, "link": link, "value": vector.tolist()})
        return fired

    # -- observation ---------------------------------------------------------------------

    def _clipped(self, observation: np.ndarray) -> np.ndarray:
        """Clipped to the sensor bounds; the exact privileged part appended where asked."""
        low, high = self._observation_bounds
        clipped = observation.clip(low, high)
        if self._privileged is None:
            return clipped.astype(np.float32)
        extra = np.concatenate([self._privileged_dynamics, self._privileged_state()])
        bound = PRIVILEGED_BOUND
        return np.concatenate([clipped, extra.clip(-bound, bound)]).astype(np.float32)

    # -- robot hooks -------------------------------------------------------------------

    @abc.abstractmethod
    def _load(self, client: BulletClient) -> ModelHandles:
        """Set physics, load scene and robot, disable default motors; return the handles."""

    @abc.abstractmethod
    def _make_actuator(self, client: BulletClient, handles: ModelHandles) -> Actuator:
        """The robot's actuator (torque or PD); the base class adds the latency."""

    @abc.abstractmethod
    def _reset_robot(self) -> None:
        """Put the robot in its initial state (the snapshot is already restored)."""

    @abc.abstractmethod
    def _observe(self) -> np.ndarray:
        """The noise-free observation."""

    @abc.abstractmethod
    def _reward(self, command: np.ndarray) -> tuple[dict[str, float], bool]:
        """Itemized reward terms (summing to the reward) and whether the episode terminated."""

    def _camera_target(self) -> list[float]:
        return [0.0, 0.0, 0.5]
