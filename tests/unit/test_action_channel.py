"""The action channel: noise per action dimension, then the env's own action bounds."""

from __future__ import annotations

import numpy as np

from sim2real.envs.channels import ActionChannel


def test_actions_are_clipped_to_the_given_bounds_not_to_one():
    channel = ActionChannel(np.full(2, -3.0, np.float32), np.full(2, 3.0, np.float32))
    channel.configure({"action_noise_std": np.zeros(2)})
    rng = np.random.default_rng(0)
    np.testing.assert_array_equal(channel(np.array([2.5, -7.0]), rng), [2.5, -3.0])


def test_noise_is_added_before_the_clip():
    channel = ActionChannel(np.full(2, -3.0), np.full(2, 3.0))
    channel.configure({"action_noise_std": np.array([0.5, 0.0])})
    noisy = channel(np.array([0.0, 2.9]), np.random.default_rng(1))
    expected = np.random.default_rng(1).standard_normal(2) * [0.5, 0.0]
    np.testing.assert_allclose(noisy, np.clip([0.0, 2.9] + expected, -3.0, 3.0))
    assert noisy[0] != 0.0
