"""The A1: what it observes, how it stands, when it ends, what it is rewarded for."""

from __future__ import annotations

import numpy as np
import pytest

from sim2real.envs.a1 import DEFAULT_POSE, JOINTS, A1Env
from sim2real.errors import UserError

TERMS = {
    "tracking_lin_vel", "tracking_ang_vel", "lin_vel_z", "ang_vel_xy", "orientation",
    "base_height", "torques", "dof_acc", "action_rate", "feet_air_time", "collision",
    "dof_pos_limits",
}  # fmt: skip


@pytest.fixture
def a1():
    env = A1Env(
        command_ranges={"lin_vel_x": [0.5, 0.5], "lin_vel_y": [0, 0], "ang_vel_yaw": [0, 0]}
    )
    yield env
    env.close()


def named(env, observation) -> dict[str, float]:
    return dict(zip(env.observation_names, observation.tolist(), strict=True))


def test_observation_is_what_a_real_a1_measures(a1):
    observation, _ = a1.reset(seed=0)
    assert observation.shape == (45,) == a1.observation_space.shape
    values = named(a1, observation)
    # Level at the start: gravity straight down in the base frame, no rotation yet.
    assert [values[f"gravity_{axis}"] for axis in "xyz"] == pytest.approx([0, 0, -1], abs=1e-6)
    assert [values[f"ang_vel_{axis}"] for axis in "xyz"] == pytest.approx([0, 0, 0], abs=1e-6)
    assert values["command_lin_vel_x"] == pytest.approx(2.0 * 0.5)  # scaled as legged_gym
    assert all(values[f"{joint}_last_action"] == 0.0 for joint in JOINTS)
    assert not any(name.startswith("lin_vel") or "base_lin" in name for name in values)
    _, _, _, _, info = a1.step(np.zeros(12, dtype=np.float32))
    assert len(info["base_lin_vel"]) == 3  # privileged, in info only


def test_stands_under_zero_actions_and_rewards_are_itemized(a1):
    a1.reset(seed=1)
    for _ in range(100):  # 2 s
        _, reward, terminated, _, info = a1.step(np.zeros(12, dtype=np.float32))
        assert not terminated
        assert set(info["reward_terms"]) == TERMS
        assert reward == pytest.approx(sum(info["reward_terms"].values()), abs=1e-12)
    height = a1.client.getBasePositionAndOrientation(a1.handles.base.body)[0][2]
    assert 0.2 < height < 0.35
    positions = [a1.client.getJointState(p.body, p.index)[0] for p in a1.handles.joints]
    # Near the standing pose; the calves sag by up to 0.3 rad under Kp 20.
    np.testing.assert_allclose(positions, [DEFAULT_POSE[j] for j in JOINTS], atol=0.35)
    assert info["reward_terms"]["tracking_lin_vel"] < 0.02 * 1.0  # standing, asked to walk


def test_ends_when_the_trunk_touches_the_ground_or_it_tips_over(a1):
    a1.reset(seed=2)
    body = a1.handles.base.body
    a1.client.resetBasePositionAndOrientation(body, [0, 0, 0.04], [0, 0, 0, 1])  # trunk down
    assert a1.step(np.zeros(12, dtype=np.float32))[2]
    a1.reset(seed=2)
    tilted = a1.client.getQuaternionFromEuler([1.3, 0.0, 0.0])
    a1.client.resetBasePositionAndOrientation(body, [0, 0, 0.42], tilted)
    assert a1.step(np.zeros(12, dtype=np.float32))[2]


def test_actions_move_the_pd_targets_around_the_standing_pose(a1):
    a1.reset(seed=3)
    action = np.zeros(12, dtype=np.float32)
    action[1] = 1.0  # FR thigh forward by the action scale
    a1.step(action)
    pd = a1.actuator.inner
    expected = np.array([DEFAULT_POSE[j] for j in JOINTS])
    expected[1] += 0.25
    np.testing.assert_allclose(pd.default_pose + pd.action_scale * pd.in_effect, expected)
    assert a1.physics_dt == pytest.approx(0.005)


def test_a_push_changes_the_base_velocity_by_the_declared_amount():
    push = {"event": "push_velocity", "axes": "x", "value": 0.7, "when": "reset"}
    env = A1Env(randomization=[push])
    try:
        _, info = env.reset(seed=0)
        assert info["events"][0]["link"] == "trunk"  # the base, by default
        velocity = env.client.getBaseVelocity(env.handles.base.body)[0]
        assert velocity[0] == pytest.approx(0.7)
    finally:
        env.close()


def test_commands_are_drawn_within_their_ranges():
    env = A1Env(command_ranges={"lin_vel_x": [0.0, 1.0]})
    try:
        for seed in range(20):
            env.reset(seed=seed)
            assert 0.0 <= env.command[0] <= 1.0 and -1.0 <= env.command[2] <= 1.0
    finally:
        env.close()


@pytest.mark.parametrize(
    ("ranges", "message"),
    [
        ({"forward": [0, 1]}, "unknown command 'forward'; valid: lin_vel_x"),
        ({"lin_vel_x": [1, 0]}, "need low <= high"),
        ({"lin_vel_x": "fast"}, "expected \\[low, high\\]"),
        ({"lin_vel_x": [0, 50]}, "within \\[-5, 5\\]"),
    ],
)
def test_bad_command_ranges_are_one_line_errors(ranges, message):
    with pytest.raises(UserError, match=message):
        A1Env(command_ranges=ranges)
