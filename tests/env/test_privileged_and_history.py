"""Privileged observations (teachers, asymmetric critics) and the history wrapper (students)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

from sim2real.envs.a1 import A1Env
from sim2real.envs.cartpole import CartPoleEnv
from sim2real.envs.wrappers import History
from sim2real.errors import UserError

SPEC = [
    {"parameter": "link_mass", "selector": "pole", "range": [0.5, 2.0]},
    {"parameter": "gravity", "range": [0.9, 1.1]},
]


def test_privileged_entries_are_the_dynamics_normalized_to_the_spec_ranges():
    env = CartPoleEnv(randomization=SPEC, privileged=True)
    try:
        assert env.privileged_names == ("dr:link_mass:pole", "dr:gravity:z")
        assert env.metadata["privileged_observation_names"] == list(env.privileged_names)
        assert env.observation_space.shape == (6,)
        for seed in range(5):
            observation, info = env.reset(seed=seed)
            pole, gravity = info["dynamics"]["link_mass"]["pole"], info["dynamics"]["gravity"]
            # Pole 0.1 kg x [0.5, 2]; gravity -9.8 x [0.9, 1.1] spans [-10.78, -8.82].
            expected = [(pole - 0.05) / 0.15, (gravity + 10.78) / 1.96]
            np.testing.assert_allclose(observation[4:], expected, atol=1e-6)
            assert np.all((observation[4:] >= 0) & (observation[4:] <= 1))
        env.set_dynamics({"link_mass": {"pole": 0.3}})  # a target beyond the range: > 1
        assert env.step(np.zeros(1, dtype=np.float32))[0][4] == pytest.approx(0.25 / 0.15, rel=1e-6)
    finally:
        env.close()


def test_privileged_part_is_exact_while_the_sensors_are_noisy():
    noisy = [*SPEC, {"parameter": "observation_noise_std", "value": 0.5, "operation": "abs"}]
    env = CartPoleEnv(randomization=noisy, privileged=True)
    try:
        observation, info = env.reset(seed=0)
        pole = info["dynamics"]["link_mass"]["pole"]
        assert observation[4] == pytest.approx((pole - 0.05) / 0.15, abs=1e-6)
    finally:
        env.close()


def test_privileged_envs_pass_the_checkers():
    cartpole = CartPoleEnv(randomization=SPEC, privileged=True)
    a1 = A1Env(randomization=[{"parameter": "kp", "range": [0.8, 1.2]}], privileged=True)
    try:
        gym_check_env(cartpole, skip_render_check=True)
        sb3_check_env(a1)
    finally:
        cartpole.close()
        a1.close()


def test_a1_privileged_state_is_the_base_velocity():
    env = A1Env(privileged=True)
    try:
        assert env.privileged_names[-3:] == tuple(f"privileged:base_lin_vel_{a}" for a in "xyz")
        env.reset(seed=0)
        observation, _, _, _, info = env.step(np.zeros(12, dtype=np.float32))
        np.testing.assert_allclose(observation[-3:], info["base_lin_vel"], atol=1e-6)
        assert observation.shape == (45 + 3,)
    finally:
        env.close()


def test_history_holds_the_last_k_observations_and_actions_oldest_first():
    env = History(CartPoleEnv(), steps=3)
    try:
        observation, _ = env.reset(seed=0)
        assert observation.shape == (3 * 4 + 3 * 1,)
        first = observation[8:12].copy()
        np.testing.assert_array_equal(observation[:8], 0.0)
        actions = [0.5, -0.25, 1.0, 0.75]
        seen = [first]
        for action in actions:
            observation, *_ = env.step(np.array([action], dtype=np.float32))
            seen.append(observation[8:12].copy())
        np.testing.assert_array_equal(observation[:12].reshape(3, 4), np.array(seen[-3:]))
        np.testing.assert_array_equal(observation[12:], actions[-3:])
        sb3_check_env(env)
    finally:
        env.close()


@pytest.mark.parametrize("steps", [0, -1, 2.5, True, 10_000])
def test_history_length_is_validated(steps):
    with pytest.raises(UserError, match="History: steps"):
        History(CartPoleEnv(), steps=steps)


def test_privileged_spec_keeps_the_training_layout_on_an_env_without_one():
    """An evaluation env (nominal dynamics or a target) normalizes to the training spec."""
    trained = CartPoleEnv(randomization=SPEC, privileged=True)
    target = CartPoleEnv(privileged=SPEC)
    try:
        assert target.privileged_names == trained.privileged_names
        target.set_dynamics({"link_mass": {"pole": 0.2}})
        observation, info = target.reset(seed=0)
        assert info["dynamics"]["link_mass"]["pole"] == pytest.approx(0.2)  # not randomized
        np.testing.assert_allclose(observation[4:], [(0.2 - 0.05) / 0.15, 0.5], atol=1e-6)
    finally:
        trained.close()
        target.close()


def test_privileged_true_in_a_config_becomes_its_training_spec():
    """Every env of the run (training, nominal and target evaluation, export, videos, the zoo)
    is made from env.kwargs, so they all normalize the privileged entries alike."""
    from sim2real.config import config_to_dict, parse_config
    from sim2real.randomization.spec import spec_to_data

    data = {
        "name": "teacherish",
        "env": {"id": "sim2real/CartPole-v0", "kwargs": {"privileged": True}},
        "randomization": "randomization/cartpole_dr.yaml",
        "algorithm": {"name": "PPO"},
        "total_timesteps": 1000,
    }
    config = parse_config(data)
    assert config.env.kwargs["privileged"] == {"terms": spec_to_data(config.randomization)}
    assert parse_config(config_to_dict(config)) == config
    nominal = gym.make("sim2real/CartPole-v0", **config.env.kwargs)
    trained = gym.make(
        "sim2real/CartPole-v0", randomization=config.randomization, **config.env.kwargs
    )
    try:
        names = nominal.unwrapped.privileged_names
        assert names and names == trained.unwrapped.privileged_names
        assert nominal.observation_space.shape == trained.observation_space.shape
    finally:
        nominal.close()
        trained.close()
