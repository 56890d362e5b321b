"""Checks every registered world must pass: API checkers, determinism, DR really landing."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

from sim2real.envs import env_ids
from sim2real.randomization import SpecError
from sim2real.randomization.apply import read_simulator_dynamics

ENV_IDS = env_ids()
BROAD_SPEC = [
    {"parameter": "link_mass", "range": [0.5, 1.5]},
    {"parameter": "joint_damping", "range": [0.0, 0.5], "operation": "add"},
    {"parameter": "motor_strength", "range": [0.7, 1.3]},
    {"parameter": "gravity", "range": [0.9, 1.1]},
    {"parameter": "observation_noise_std", "range": [0.0, 0.01], "operation": "abs"},
    {"parameter": "action_noise_std", "range": [0.0, 0.05], "operation": "abs"},
]


def supported(env_id: str, terms: list[dict]) -> list[dict]:
    """The terms a world supports (the flat-lying Reacher leaves gravity out)."""
    env = gym.make(env_id)
    try:
        return [t for t in terms if t["parameter"] in env.unwrapped.layout.elements]
    finally:
        env.close()


def broad_spec(env_id: str) -> list[dict]:
    return supported(env_id, BROAD_SPEC)


def rollout(env, seed, steps=60):
    observation, info = env.reset(seed=seed)
    env.action_space.seed(seed)
    observations, rewards = [observation], []
    for _ in range(steps):
        observation, reward, terminated, truncated, _ = env.step(env.action_space.sample())
        observations.append(observation)
        rewards.append(reward)
        if terminated or truncated:
            observation, _ = env.reset()
            observations.append(observation)
    return info["dynamics"], np.array(observations), np.array(rewards)


@pytest.mark.parametrize("randomized", [True, False], ids=["dr", "no_spec"])
@pytest.mark.parametrize("env_id", ENV_IDS)
def test_gymnasium_and_sb3_checkers_pass(env_id, randomized, make_env):
    spec = broad_spec(env_id) if randomized else None
    gym_check_env(make_env(env_id, randomization=spec).unwrapped, skip_render_check=True)
    sb3_check_env(make_env(env_id, randomization=spec), warn=False)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_info_can_be_kept_and_mutated_without_touching_the_env(env_id, make_env):
    """Regression: without a spec every reset returned the same dynamics dict."""
    env = make_env(env_id).unwrapped
    _, first = env.reset(seed=0)
    _, second = env.reset(seed=0)
    assert first["dynamics"] == second["dynamics"]
    assert first["dynamics"] is not second["dynamics"]
    link = env.layout.names("link_mass")[0]
    nominal_mass = env.get_dynamics()["link_mass"][link]
    first["dynamics"]["link_mass"][link] = 123.0
    first["dynamics"]["gravity"] = 0.0
    env.get_dynamics()["link_mass"][link] = 456.0
    assert env.get_dynamics()["link_mass"][link] == nominal_mass
    assert second["dynamics"]["link_mass"][link] == nominal_mass
    _, _, _, _, step_info = env.step(env.action_space.sample())
    _, _, _, _, next_info = env.step(env.action_space.sample())
    assert step_info["reward_terms"] is not next_info["reward_terms"]


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_same_seed_gives_same_dynamics_and_trajectory(env_id, make_env):
    first = rollout(make_env(env_id, randomization=broad_spec(env_id)), seed=11)
    second = rollout(make_env(env_id, randomization=broad_spec(env_id)), seed=11)
    other = rollout(make_env(env_id, randomization=broad_spec(env_id)), seed=12)
    assert first[0] == second[0]
    np.testing.assert_array_equal(first[1], second[1])
    np.testing.assert_array_equal(first[2], second[2])
    assert first[0] != other[0]


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_sampled_dynamics_land_in_the_simulator(env_id, make_env):
    spec = [
        {"parameter": "link_mass", "range": [0.5, 1.5]},
        {"parameter": "gravity", "range": [0.8, 1.2]},
        {"parameter": "lateral_friction", "range": [0.3, 1.2]},
    ]
    env = make_env(env_id, randomization=supported(env_id, spec)).unwrapped
    for seed in range(3):
        env.reset(seed=seed)
        landed = read_simulator_dynamics(env.client, env.handles, env.layout)
        values = env.dynamics_values
        for parameter in ("link_mass", "gravity", "lateral_friction"):
            if parameter in values:
                np.testing.assert_allclose(landed[parameter], values[parameter], rtol=1e-12)
        assert not np.allclose(values["link_mass"], env.nominal["link_mass"])


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_no_compounding_over_100_resets(env_id, make_env):
    env = make_env(env_id, randomization=[{"parameter": "link_mass", "range": [0.9, 1.1]}])
    base = env.unwrapped
    ratios = []
    for seed in range(100):
        base.reset(seed=seed)
        ratios.append(
            read_simulator_dynamics(base.client, base.handles, base.layout)["link_mass"]
            / base.nominal["link_mass"]
        )
    ratios = np.array(ratios)
    # Relative to nominal every time: a compounding bug would drift far outside [0.9, 1.1].
    assert ratios.min() >= 0.9 - 1e-12 and ratios.max() <= 1.1 + 1e-12
    assert abs(ratios.mean() - 1.0) < 0.03


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_zero_width_spec_is_identical_to_no_spec(env_id, make_env):
    zero = [
        {"parameter": "link_mass", "range": [1.0, 1.0]},
        {"parameter": "gravity", "value": 0.0, "operation": "add"},
        {"parameter": "motor_strength", "value": 1.0},
        {"parameter": "action_latency_s", "value": 0.0, "operation": "abs"},
    ]
    plain = rollout(make_env(env_id), seed=5)
    zeroed = rollout(make_env(env_id, randomization=supported(env_id, zero)), seed=5)
    assert plain[0] == zeroed[0]
    np.testing.assert_array_equal(plain[1], zeroed[1])
    np.testing.assert_array_equal(plain[2], zeroed[2])


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_latency_delays_actions_by_exactly_the_declared_steps(env_id, make_env):
    base = make_env(env_id).unwrapped
    steps = 3
    latency = [
        {"parameter": "action_latency_s", "value": steps * base.control_dt, "operation": "abs"}
    ]
    delayed = make_env(env_id, randomization=latency).unwrapped
    rng = np.random.default_rng(0)
    actions = rng.uniform(-1, 1, size=(20, *base.action_space.shape))
    applied = {"plain": [], "delayed": []}
    for name, env in (("plain", base), ("delayed", delayed)):
        env.reset(seed=3)
        for action in actions:
            env.step(action)
            applied[name].append(env.actuator.in_effect.copy())  # acting at the step's end
    plain, late = np.array(applied["plain"]), np.array(applied["delayed"])
    np.testing.assert_array_equal(late[:steps], np.zeros_like(late[:steps]))
    np.testing.assert_array_equal(late[steps:], plain[:-steps])


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_reward_terms_sum_to_reward_and_values_are_finite(env_id, make_env):
    env = make_env(env_id, randomization=broad_spec(env_id))
    env.reset(seed=0)
    env.action_space.seed(0)
    for _ in range(200):
        observation, reward, terminated, truncated, info = env.step(env.action_space.sample())
        assert np.isfinite(observation).all() and np.isfinite(reward)
        assert reward == pytest.approx(sum(info["reward_terms"].values()), abs=1e-9)
        if terminated or truncated:
            env.reset()


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_set_dynamics_fixes_exact_values_across_resets(env_id, make_env):
    env = make_env(env_id).unwrapped
    link = env.layout.names("link_mass")[0]
    has_gravity = "gravity" in env.layout.elements
    env.set_dynamics({"link_mass": {link: 2.5}, **({"gravity": -7.0} if has_gravity else {})})
    for seed in range(3):
        _, info = env.reset(seed=seed)
        assert info["dynamics"]["link_mass"][link] == 2.5
        landed = read_simulator_dynamics(env.client, env.handles, env.layout)
        assert landed["link_mass"][0] == 2.5
        if has_gravity:
            assert info["dynamics"]["gravity"] == -7.0
            assert landed["gravity"][0] == -7.0
    assert env.get_dynamics() == info["dynamics"]


def test_two_envs_in_one_process_do_not_interfere(make_env):
    alone = rollout(make_env("sim2real/CartPole-v0"), seed=4)
    heavy = make_env("sim2real/CartPole-v0").unwrapped
    heavy.set_dynamics({"gravity": -20.0, "link_mass": {"pole": 1.0}})
    beside = make_env("sim2real/CartPole-v0")
    beside.reset(seed=4)
    heavy.reset(seed=4)
    beside.action_space.seed(4)
    observations = [beside.reset(seed=4)[0]]
    for _ in range(60):
        heavy.step(heavy.action_space.sample())  # interleaved steps in another client
        observation, _, terminated, truncated, _ = beside.step(beside.action_space.sample())
        observations.append(observation)
        if terminated or truncated:
            observations.append(beside.reset()[0])
    np.testing.assert_array_equal(np.array(observations), alone[1])


def test_startup_terms_are_drawn_once(make_env):
    env = make_env(
        "sim2real/CartPole-v0",
        randomization=[{"parameter": "link_mass", "range": [0.5, 1.5], "when": "startup"}],
    )
    masses = {
        env.reset(seed=None if i else 1)[1]["dynamics"]["link_mass"]["pole"] for i in range(5)
    }
    assert len(masses) == 1 and masses != {0.1}


def test_interval_terms_redraw_within_an_episode(make_env):
    env = make_env(
        "sim2real/CartPole-v0",
        randomization=[
            {"parameter": "gravity", "range": [0.5, 1.5], "when": "interval", "interval_s": 0.1}
        ],
    )
    base = env.unwrapped
    base.reset(seed=0)
    seen = set()
    for _ in range(20):
        base.step(np.zeros(1, dtype=np.float32))
        seen.add(read_simulator_dynamics(base.client, base.handles, base.layout)["gravity"][0])
    # Drawn at reset, then anew every 5 control steps of 0.02 s (steps 5, 10, 15, 20).
    assert len(seen) == 5 and -9.8 not in seen


def test_joint_damping_changes_the_motion(make_env):
    """getJointInfo does not report changed damping, so check its effect on the pole."""

    def swing(damping):
        env = make_env("sim2real/CartPole-v0").unwrapped
        env.set_dynamics({"joint_damping": {"cart_to_pole": damping}})
        env.reset(seed=0)
        for _ in range(5):
            observation, *_ = env.step(np.zeros(1, dtype=np.float32))
        return abs(observation[3])

    assert swing(2.0) < 0.5 * swing(0.0)


def test_bad_spec_fails_when_the_env_is_made():
    with pytest.raises(SpecError, match="matches nothing; valid: cart, pole"):
        gym.make(
            "sim2real/CartPole-v0",
            randomization=[{"parameter": "link_mass", "selector": "torso", "value": 2.0}],
        )
    with pytest.raises(SpecError, match="not randomizable in this env"):
        gym.make(
            "sim2real/CartPole-v0", randomization=[{"parameter": "lateral_friction", "value": 2.0}]
        )


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_render_rgb_array_headless(env_id, make_env):
    env = make_env(env_id, render_mode="rgb_array")
    env.reset(seed=0)
    frame = env.render()
    assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3
    assert frame.std() > 0  # not a blank image


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_mass_changes_rescale_inertia(env_id, make_env):
    env = make_env(env_id, randomization=[{"parameter": "link_mass", "range": [0.5, 2.0]}])
    base = env.unwrapped
    parts = base.handles.links
    inertia = np.array([base.client.getDynamicsInfo(p.body, p.index)[2] for p in parts])
    base.reset(seed=1)
    ratio = base.dynamics_values["link_mass"] / base.nominal["link_mass"]
    scaled = np.array([base.client.getDynamicsInfo(p.body, p.index)[2] for p in parts])
    np.testing.assert_allclose(scaled, inertia * ratio[:, None], rtol=1e-9)


def test_interval_latency_changes_take_effect_within_the_episode(make_env):
    env = make_env(
        "sim2real/CartPole-v0",
        randomization=[
            {
                "parameter": "action_latency_s",
                "range": [0.0, 0.1],
                "operation": "abs",
                "when": "interval",
                "interval_s": 0.04,
            }
        ],
    ).unwrapped
    env.reset(seed=0)
    delays = set()
    for _ in range(40):
        env.step(np.zeros(1, dtype=np.float32))
        expected = round(env.get_dynamics()["action_latency_s"] / env.control_dt)
        assert (
            env.actuator.commands_in_flight == expected
        )  # the FIFO holds exactly the current delay
        delays.add(expected)
    assert len(delays) > 1
