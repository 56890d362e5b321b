"""The A1: what it observes, how it stands, when it ends, what it is rewarded for."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim2real.config import resolve_config_path
from sim2real.envs.a1 import DEFAULT_POSE, JOINTS, A1Env
from sim2real.errors import UserError
from sim2real.targets import apply_target, load_target

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
    assert info["feet_contact"] == [True] * 4


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


@pytest.mark.parametrize(("clip", "sent", "offset"), [(1.0, 3.0, 0.25), (4.0, 3.0, 0.75)])
def test_action_clip_bounds_the_pd_targets_offset(clip, sent, offset):
    """legged_gym's clip_actions: an action beyond the bound moves the target by the bound."""
    env = A1Env(action_clip=clip)
    try:
        assert env.action_space.high.tolist() == [clip] * 12
        env.reset(seed=0)
        env.step(np.full(12, sent, dtype=np.float32))
        pd = env.actuator.inner
        expected = np.array([DEFAULT_POSE[j] for j in JOINTS]) + offset
        np.testing.assert_allclose(pd.default_pose + pd.action_scale * pd.in_effect, expected)
    finally:
        env.close()


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


def is_exact(name: str) -> bool:
    """What the robot is told and sends, not what it measures."""
    return name.startswith("command_") or name.endswith("_last_action")


@pytest.mark.parametrize("source", ["a1_dr.yaml", "a1_noisy_sensors.yaml", "a1_hard.yaml"])
def test_shipped_sensor_noise_reaches_the_sensors_only(source):
    # As legged_gym: noise on the IMU and joint encoders, none on the command or last action.
    commands = {"lin_vel_x": [0.5, 0.5], "lin_vel_y": [0.2, 0.2], "ang_vel_yaw": [0.4, 0.4]}
    if source.endswith("dr.yaml"):
        env = A1Env(randomization=source, command_ranges=commands)
    else:
        env = A1Env(command_ranges=commands)
        apply_target(env, load_target(resolve_config_path(source, kind="target")))
    try:
        for seed in range(3):
            env.reset(seed=seed)
            std = env.get_dynamics()["observation_noise_std"]
            assert all(std[name] == 0.0 for name in std if is_exact(name))
            sensors = [name for name in std if not is_exact(name)]
            assert len(sensors) == 30 and all(std[name] > 0.0 for name in sensors)
            values = named(env, env.step(np.zeros(12, dtype=np.float32))[0])
            observed = [values[f"command_{name}"] for name in commands]
            assert observed == pytest.approx([2.0 * 0.5, 2.0 * 0.2, 0.25 * 0.4], rel=0, abs=1e-6)
            assert all(values[f"{joint}_last_action"] == 0.0 for joint in JOINTS)
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
        ({"forward": [0, 1]}, "unknown name 'forward'; valid: lin_vel_x"),
        ({"lin_vel_x": [1, 0]}, "low <= high"),
        ({"lin_vel_x": "fast"}, "expected \\[low, high\\]"),
        ({"lin_vel_x": [0, 50]}, "within \\[-5, 5\\]"),
        ({"lin_vel_x": "12"}, "expected \\[low, high\\]"),  # not the range (1, 2)
        ({"lin_vel_x": b"\x00\x01"}, "expected \\[low, high\\]"),  # not the range (0, 1)
        ({"lin_vel_x": [True, True]}, "need two numbers"),
        ({"lin_vel_x": [0, 1, 2]}, "expected \\[low, high\\]"),
    ],
)
def test_bad_command_ranges_are_one_line_errors(ranges, message):
    with pytest.raises(UserError, match=message):
        A1Env(command_ranges=ranges)


def test_reward_scales_and_tracking_sigma_reach_the_reward_terms():
    """Same seed and actions: a reweighted term scales exactly; a narrower kernel pays less."""
    commands = {"lin_vel_x": [0.5, 0.5], "lin_vel_y": [0, 0], "ang_vel_yaw": [0, 0]}
    plain = A1Env(command_ranges=commands)
    tuned = A1Env(
        command_ranges=commands,
        reward_scales={"torques": -0.001, "feet_air_time": 0.0},
        tracking_sigma=0.05,
    )
    try:
        plain.reset(seed=4)
        tuned.reset(seed=4)
        action = np.full(12, 0.3, dtype=np.float32)
        for _ in range(5):
            terms = plain.step(action)[4]["reward_terms"]
            tuned_terms = tuned.step(action)[4]["reward_terms"]
        assert tuned_terms["torques"] == pytest.approx(terms["torques"] * 0.001 / 0.0002)
        assert tuned_terms["feet_air_time"] == 0.0
        assert tuned_terms["orientation"] == pytest.approx(terms["orientation"])
        # exp(-e^2 / sigma): the same speed error under sigma 0.05 instead of 0.25.
        assert tuned_terms["tracking_lin_vel"] == pytest.approx(
            0.02 * (terms["tracking_lin_vel"] / 0.02) ** (0.25 / 0.05)
        )
    finally:
        plain.close()
        tuned.close()


@pytest.mark.parametrize("forward", [0.25, 0.5, 2.0])
def test_a_relative_tracking_error_makes_standing_as_poor_under_slow_commands(forward):
    """Standing still: legged_gym's kernel pays exp(-c^2 / sigma), the relative one exp(-1 /
    sigma) at every command above the floor (the floor, 0.5 m/s, caps it for 0.25)."""
    commands = {"lin_vel_x": [forward, forward], "lin_vel_y": [0, 0], "ang_vel_yaw": [0, 0]}
    env = A1Env(command_ranges=commands, relative_tracking_floor=0.5)
    try:
        env.reset(seed=1)
        velocity = np.zeros(2)
        reference = max(forward, 0.5)
        assert env._planar_speed_error(velocity) == pytest.approx([forward / reference, 0.0])
        assert env._planar_speed_error(np.array([forward, 0.1])) == pytest.approx(
            [0.0, -0.1 / reference]
        )
        terms = env.step(np.zeros(12, dtype=np.float32))[4]["reward_terms"]
        speed = np.hypot(*env._state["lin_vel"][:2] - [forward, 0.0]) / reference
        assert terms["tracking_lin_vel"] == pytest.approx(0.02 * math.exp(-(speed**2) / 0.25))
    finally:
        env.close()


def test_commands_below_zero_command_below_become_standing_still():
    ranges = {"lin_vel_x": [0.0, 1.0], "lin_vel_y": [0.0, 0.0], "ang_vel_yaw": [-1.0, 1.0]}
    env = A1Env(command_ranges=ranges, zero_command_below=0.3)
    try:
        forward = []
        for seed in range(40):
            observation, _ = env.reset(seed=seed)
            forward.append(env.command[0])
            assert env.command[1] == 0.0
            assert observation[6] == pytest.approx(2.0 * env.command[0])  # what the policy sees
        forward = np.array(forward)
        assert np.all((forward == 0.0) | (forward >= 0.3))
        assert 0 < np.sum(forward == 0.0) < 40  # about 30% of uniform draws on [0, 1]
    finally:
        env.close()


def test_feet_air_time_target_moves_each_touchdowns_reward_by_the_difference():
    """Same seed and actions: a touchdown pays (air time - target), so a 0.2 s target instead of
    0.5 s adds weight x dt x 0.3 per touchdown and nothing between touchdowns."""
    ranges = {"lin_vel_x": [0.5, 0.5], "lin_vel_y": [0.0, 0.0], "ang_vel_yaw": [0.0, 0.0]}
    plain = A1Env(command_ranges=ranges)
    short = A1Env(command_ranges=ranges, feet_air_time_target_s=0.2)
    try:
        plain.reset(seed=3)
        short.reset(seed=3)
        rng = np.random.default_rng(1)
        per_touchdown = 1.0 * A1Env.control_dt * 0.3  # weight 1 (legged_gym's) x dt x 0.3 s
        touchdowns = 0
        for _ in range(60):
            action = rng.uniform(-1, 1, 12).astype(np.float32)
            terms = plain.step(action)[4]["reward_terms"]
            short_terms = short.step(action)[4]["reward_terms"]
            count = (short_terms["feet_air_time"] - terms["feet_air_time"]) / per_touchdown
            assert count == pytest.approx(round(count), abs=1e-9) and round(count) >= 0
            touchdowns += round(count)
            assert short_terms["orientation"] == terms["orientation"]  # the same motion
        assert touchdowns > 0
    finally:
        plain.close()
        short.close()


def test_only_positive_rewards_clips_the_total_and_keeps_the_terms_summing_to_it():
    """Same seed and actions: each step pays max(0, the plain reward), and the plain terms plus
    ``positive_clip`` sum to it."""
    plain, clipped = A1Env(), A1Env(only_positive_rewards=True)
    try:
        plain.reset(seed=7)
        clipped.reset(seed=7)
        rng = np.random.default_rng(0)
        negatives = 0
        for _ in range(40):
            action = rng.uniform(-1, 1, 12).astype(np.float32)
            _, reward, *_, info = plain.step(action)
            _, clipped_reward, *_, clipped_info = clipped.step(action)
            terms = clipped_info["reward_terms"]
            assert clipped_reward == pytest.approx(max(0.0, reward), abs=1e-12)
            assert sum(terms.values()) == pytest.approx(clipped_reward, abs=1e-12)
            assert terms["positive_clip"] == pytest.approx(max(0.0, -reward), abs=1e-12)
            negatives += reward < 0
        assert negatives > 0  # random actions on a standing start do cost more than they earn
    finally:
        plain.close()
        clipped.close()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"reward_scales": {"speed": 1.0}}, "unknown name 'speed'; valid: tracking_lin_vel"),
        ({"reward_scales": {"torques": "big"}}, "'reward_scales.torques' = 'big'"),
        ({"reward_scales": {"torques": float("nan")}}, "expected a number"),
        ({"reward_scales": [1.0]}, "expected \\{term: weight\\}"),
        ({"tracking_sigma": 0.0}, "'tracking_sigma' = 0.0; expected a number in"),
        ({"tracking_sigma": "wide"}, "'tracking_sigma' = 'wide'"),
        ({"tracking_sigma": True}, "'tracking_sigma' = True"),
        ({"only_positive_rewards": "yes"}, "'only_positive_rewards' = 'yes'; expected true"),
        ({"zero_command_below": -0.1}, "'zero_command_below' = -0.1; expected a speed in"),
        ({"zero_command_below": "slow"}, "'zero_command_below' = 'slow'"),
        ({"relative_tracking_floor": -1}, "'relative_tracking_floor' = -1; expected 0 .* or a"),
        ({"relative_tracking_floor": 0.01}, "'relative_tracking_floor' = 0.01; expected 0 "),
        ({"feet_air_time_target_s": 3}, "'feet_air_time_target_s' = 3; expected a duration"),
        ({"action_clip": 0.0}, "'action_clip' = 0.0; expected a bound in \\[0.1, 100\\]"),
        ({"action_clip": "wide"}, "'action_clip' = 'wide'; expected a bound"),
        ({"action_clip": 101}, "'action_clip' = 101; expected a bound"),
        ({"tracking_sigma": "0.3"}, "'tracking_sigma' = '0.3'; expected a number"),
        ({"actuator": "x"}, "field 'actuator' = 'x'; must be one of"),
        ({"tracking_sigma": 10**400}, "'tracking_sigma' = 1000"),
        ({"reward_scales": {"torques": 10**400}}, "'reward_scales.torques' = 1000"),
        ({"command_ranges": {"lin_vel_x": [0, "1"]}}, "'command_ranges.lin_vel_x' = \\[0, '1'\\]"),
    ],
)
def test_bad_reward_settings_are_one_line_errors(kwargs, message):
    with pytest.raises(UserError, match=message):
        A1Env(**kwargs)


def test_a_bad_env_kwarg_in_a_config_names_its_field_without_the_others():
    from sim2real.config import load_config

    with pytest.raises(UserError) as raised:
        load_config("a1_dr_ppo.yaml", overrides=["env.kwargs.command_ranges.lin_vel_x=[1,0]"])
    message = str(raised.value)
    assert "field 'env.kwargs.command_ranges.lin_vel_x' = [1, 0]; need two numbers" in message
    assert "lin_vel_y" not in message  # not a dump of every kwarg


@pytest.mark.parametrize(
    ("forward", "standing_match", "gate"), [(0.5, 0.5, False), (0.0, 1.0, False), (0.5, 0.5, True)]
)
def test_the_gait_clock_is_observed_and_rewards_a_trot(forward, standing_match, gate):
    """The clock advances f * dt per step from a seeded start; standing on four feet matches
    half a trot (one diagonal pair down, the other should be up) and all of a standing command;
    the gate scales the match by the linear-velocity tracking kernel."""
    commands = {"lin_vel_x": [forward, forward], "lin_vel_y": [0, 0], "ang_vel_yaw": [0, 0]}
    env = A1Env(
        command_ranges=commands,
        gait_frequency_hz=2.0,
        reward_scales={"gait": 3.0},
        gait_tracking_gate=gate,
    )
    try:
        observation, _ = env.reset(seed=5)
        assert observation.shape == (47,) == env.observation_space.shape
        assert env.observation_names[-2:] == ("gait_clock_sin", "gait_clock_cos")
        start = np.arctan2(observation[-2], observation[-1])
        for step in range(1, 40):
            observation, reward, _, _, info = env.step(np.zeros(12, dtype=np.float32))
            angle = start + 2 * np.pi * 2.0 * 0.02 * step
            np.testing.assert_allclose(observation[-2:], [np.sin(angle), np.cos(angle)], atol=1e-6)
            assert reward == pytest.approx(sum(info["reward_terms"].values()), abs=1e-12)
        kernel = info["reward_terms"]["tracking_lin_vel"] / 0.02 if gate else 1.0
        if gate:  # standing still, asked for 0.5 m/s: the kernel, exp(-1) at rest, is small
            assert kernel < 0.4
        assert info["reward_terms"]["gait"] == pytest.approx(3.0 * 0.02 * standing_match * kernel)
        assert env.observation_units["gait_clock_cos"] == "cos(2*pi*phase), phase in [0, 1) at 2 Hz"
    finally:
        env.close()


def test_without_the_clock_the_a1_is_unchanged_and_the_gait_weight_refused():
    env = A1Env()
    try:
        assert env.observation_space.shape == (45,)
        env.reset(seed=0)
        assert "gait" not in env.step(np.zeros(12, dtype=np.float32))[4]["reward_terms"]
    finally:
        env.close()
    with pytest.raises(UserError, match="'reward_scales.gait' = 1.0; the gait term needs the gait"):
        A1Env(reward_scales={"gait": 1.0})
    A1Env(reward_scales={"gait": 0.0}).close()  # a sweep switching the clock off keeps its weight
    for bad in (-1.0, 6.0, float("nan"), "2"):
        with pytest.raises(UserError, match="env kwarg 'gait_frequency_hz' = .*; expected a freq"):
            A1Env(gait_frequency_hz=bad)
    with pytest.raises(UserError, match="'gait_tracking_gate' = True; it gates the gait term"):
        A1Env(gait_tracking_gate=True)
    with pytest.raises(UserError, match="'gait_tracking_gate' = 'yes'; expected true or false"):
        A1Env(gait_frequency_hz=2.0, gait_tracking_gate="yes")
