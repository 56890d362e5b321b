"""Recording episodes on a target: what ``sim2real record`` writes (see :mod:`sim2real.data`).

The actions come from a trained policy (a run directory or a policy bundle, through the
:class:`~sim2real.policies.predictor.Predictor` protocol) or from a scripted one:
``random`` (uniform in the action space), ``zero`` or ``sine`` (per episode and action
dimension a sine of random frequency in [0.5, 2] Hz, phase and amplitude in [0.5, 1]: smooth
motion that excites the joints without the jerk of white noise). Everything is seeded, so
a seed fixes the file. The target's dynamics never reach the file: only what a robot's
sensors and logs would hold, the torques the joints received included.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import gymnasium as gym
import numpy as np

from sim2real.data import RecordedData
from sim2real.state import STATE_FIELDS, StateIO, actuated_joint_names

__all__ = ["SCRIPTED_POLICIES", "record"]

SCRIPTED_POLICIES = ("random", "zero", "sine")
SINE_FREQUENCY_HZ = (0.5, 2.0)
SINE_AMPLITUDE = (0.5, 1.0)

# (observation, step index within the episode) -> action
Policy = Callable[[np.ndarray, int], np.ndarray]


def record(
    env: gym.Env,
    policy: str | Path,
    episodes: int,
    seed: int = 0,
    trained_on: str | None = None,
) -> RecordedData:
    """Run ``episodes`` episodes of ``policy`` on ``env`` (a target's env) and collect them.

    ``policy`` is one of :data:`SCRIPTED_POLICIES` or the path of a run or policy bundle
    (``trained_on``: its env id, for messages). The first reset uses ``seed``; later ones
    continue the env's stream.
    """
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    unwrapped = env.unwrapped
    reader = StateIO(unwrapped)
    actuator = unwrapped.actuator
    actuator.measure_torques()  # the torque each joint received: what a torque sensor reads
    torques: list[np.ndarray] = []
    rng = np.random.default_rng(seed)
    make_policy = _policy_factory(env, str(policy), rng, trained_on)
    # What a robot measures: an asymmetric policy's env appends the privileged entries (its
    # critic's), which the actor never reads and the file never holds.
    measured = len(unwrapped.observation_names)
    columns: dict[str, list] = {key: [] for key in ("obs", "actions", "rewards", "term", "trunc")}
    states: list[dict[str, np.ndarray]] = []
    lengths = []
    for episode in range(episodes):
        observation, _ = env.reset(seed=seed if episode == 0 else None)
        act = make_policy()
        columns["obs"].append(observation[:measured])
        states.append(reader.read())
        steps, done = 0, False
        while not done:
            action = np.asarray(act(observation, steps), dtype=np.float64)
            observation, reward, terminated, truncated, _ = env.step(action)
            torques.append(actuator.mean_applied_torques())
            row = (observation[:measured], action, reward, terminated, truncated)
            for key, value in zip(columns, row, strict=True):
                columns[key].append(value)
            states.append(reader.read())
            steps, done = steps + 1, terminated or truncated
        lengths.append(steps)
    return RecordedData(
        env_id=getattr(unwrapped.spec, "id", None) or type(unwrapped).__name__,
        control_dt=float(unwrapped.control_dt),
        policy=str(policy),
        observation_names=tuple(unwrapped.observation_names),
        action_names=tuple(unwrapped.action_names),
        joint_names=reader.joint_names,
        base_name=reader.base_name,
        episode_lengths=np.array(lengths, dtype=np.int64),
        observations=np.array(columns["obs"], dtype=np.float32),
        state={name: np.array([s[name] for s in states]) for name in STATE_FIELDS},
        actions=np.array(columns["actions"], dtype=np.float64),
        rewards=np.array(columns["rewards"], dtype=np.float64),
        terminated=np.array(columns["term"], dtype=bool),
        truncated=np.array(columns["trunc"], dtype=bool),
        actuated_joint_names=actuated_joint_names(unwrapped),
        joint_torques=np.array(torques, dtype=np.float64),
    )


def _policy_factory(
    env: gym.Env, policy: str, rng: np.random.Generator, trained_on: str | None
) -> Callable[[], Policy]:
    """A maker of one episode's policy (scripted policies draw their episode's shape)."""
    space = env.action_space
    low, high = np.asarray(space.low, np.float64), np.asarray(space.high, np.float64)
    shape = space.shape
    if policy == "random":
        return lambda: lambda observation, step: rng.uniform(low, high)
    if policy == "zero":
        return lambda: lambda observation, step: np.zeros(shape)
    if policy == "sine":
        dt = float(env.unwrapped.control_dt)
        return lambda: _sine(rng, shape, dt, low, high)
    return _trained(env, policy, trained_on)


def _sine(
    rng: np.random.Generator, shape: tuple[int, ...], dt: float, low: np.ndarray, high: np.ndarray
) -> Policy:
    frequency = rng.uniform(*SINE_FREQUENCY_HZ, shape)
    amplitude = rng.uniform(*SINE_AMPLITUDE, shape)
    phase = rng.uniform(0.0, 2 * np.pi, shape)
    centre, half = (low + high) / 2, (high - low) / 2

    def act(observation: np.ndarray, step: int) -> np.ndarray:
        return centre + half * amplitude * np.sin(2 * np.pi * frequency * step * dt + phase)

    return act


def _trained(env: gym.Env, path: str, trained_on: str | None) -> Callable[[], Policy]:
    from sim2real.evaluation.rollouts import get_predictor
    from sim2real.policies.predictor import check_compatible

    predictor = get_predictor(path)
    env_id = getattr(env.unwrapped.spec, "id", "") or ""
    check_compatible(predictor, env, path, env_id, trained_on=trained_on)
    reset = getattr(predictor, "reset", None)

    def make() -> Policy:
        if reset is not None:
            reset()
        return lambda observation, step: predictor.predict(observation, deterministic=True)

    return make
