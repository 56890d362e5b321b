"""SB3 defaults are read from the constructors, in one place."""

import inspect

from stable_baselines3 import PPO, TD3

from sim2real.hyperparams import hyperparam, sb3_default


def test_defaults_come_from_the_sb3_signatures():
    assert sb3_default("PPO", "n_steps") == inspect.signature(PPO).parameters["n_steps"].default
    assert sb3_default("TD3", "learning_rate") == 1e-3 != sb3_default("PPO", "learning_rate")
    assert (
        sb3_default("TD3", "learning_rate")
        == inspect.signature(TD3).parameters["learning_rate"].default
    )


def test_a_configured_value_wins_over_the_default():
    assert hyperparam("PPO", {"n_steps": 64}, "n_steps") == 64
    assert hyperparam("PPO", {}, "gamma") == 0.99
