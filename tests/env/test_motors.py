"""The DC-motor and learned actuators: the motor law on hand-computed inputs, the torques that
land in PyBullet, targets and configs that declare an actuator, and their one-line errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim2real.config import parse_config
from sim2real.envs.motors import DCMotor, dc_motor_torque
from sim2real.errors import UserError
from sim2real.evaluation.conditions import make_env, target_condition
from sim2real.resources import resolve_file
from sim2real.targets import load_target

HOPPER = "sim2real/Hopper-v0"
HOPPER_GAIN = 75.0  # power 0.75 x power_coef 100: the ideal torque at command 1
GOOD_MOTOR = {
    "saturation_torque": 5,
    "no_load_speed": 5,
    "time_constant_s": 0,
    "coulomb_friction": 0,
}


def motor(saturation=100.0, speed=1e9, lag=0.0, friction=0.0) -> DCMotor:
    return DCMotor(*(np.array([v]) for v in (saturation, speed, lag, friction)))


def torque(m: DCMotor, commanded: float, velocity: float = 0.0, lagged: float = 0.0, dt=0.01):
    state, out = dc_motor_torque(
        m, np.array([lagged]), np.array([commanded]), np.array([velocity]), dt
    )
    return float(state[0]), float(out[0])


def test_first_order_lag():
    # tau = 0.1 s, dt = 0.01 s: a step of 10 N*m moves 1 - exp(-0.1) of the way.
    state, out = torque(motor(lag=0.1), 10.0)
    assert state == out == pytest.approx(10 * (1 - math.exp(-0.1)))
    state, _ = torque(motor(lag=0.1), 10.0, lagged=state)
    assert state == pytest.approx(10 * (1 - math.exp(-0.2)))
    assert torque(motor(lag=0.0), 10.0) == (10.0, 10.0)  # no lag: at once


def test_torque_speed_line():
    m = motor(saturation=40.0, speed=10.0)
    # At 5 rad/s the line allows 40 * (1 - 0.5) = 20 forward and 40 * (-1 - 0.5) -> -40 back.
    assert torque(m, 50.0, velocity=5.0)[1] == pytest.approx(20.0)
    assert torque(m, -50.0, velocity=5.0)[1] == pytest.approx(-40.0)
    assert torque(m, 15.0, velocity=5.0)[1] == pytest.approx(15.0)  # inside the line
    assert torque(m, 50.0, velocity=12.0)[1] == 0.0  # past the no-load speed: no drive
    assert torque(m, 50.0, velocity=-5.0)[1] == pytest.approx(40.0)  # braking: the stall limit


def test_coulomb_friction():
    m = motor(friction=3.0)
    assert torque(m, 10.0, velocity=2.0)[1] == pytest.approx(7.0)  # against the motion
    assert torque(m, 10.0, velocity=-2.0)[1] == pytest.approx(13.0)
    assert torque(m, 2.0, velocity=0.0)[1] == 0.0  # at rest it holds up to 3 N*m
    assert torque(m, 5.0, velocity=0.0)[1] == pytest.approx(2.0)


def after_one_step(env, action) -> np.ndarray:
    env.reset(seed=0)
    observation, *_ = env.step(np.asarray(action, dtype=np.float64))
    return observation


def test_dc_motor_torques_land_in_pybullet(make_env):
    """The motor's torques move the robot as the same torques sent by the ideal motor do."""
    saturating = {"saturation_torque": 30.0, "no_load_speed": 1e6}
    spec = {"dc_motor": {**saturating, "time_constant_s": 0.0, "coulomb_friction": 0.0}}
    env = make_env(HOPPER, actuator=spec)
    moved = after_one_step(env, [1.0, -1.0, 0.2])
    # The ideal torques (75, -75, 15) clipped to the 30 N*m stall torque.
    np.testing.assert_allclose(env.unwrapped.actuator.inner.torques, [30.0, -30.0, 15.0])
    same = after_one_step(make_env(HOPPER), [0.4, -0.4, 0.2])  # 30, -30, 15 N*m ideally
    np.testing.assert_array_equal(moved, same)
    assert not np.array_equal(moved, after_one_step(make_env(HOPPER), [1.0, -1.0, 0.2]))


def test_shipped_dc_motor_target_drives_the_hopper_through_its_motor(make_env):
    target = load_target(resolve_file("hopper_dc_motor.yaml", "target"))
    assert target.actuator["dc_motor"]["saturation_torque"] == 50.0
    target_env = make_env_for(target)
    moved = after_one_step(target_env, [1.0, 1.0, 1.0])
    # First step from rest: lag 1 - exp(-0.0165 / 0.03) of 75, less the 4 N*m held at rest.
    expected = HOPPER_GAIN * (1 - math.exp(-0.0165 / 0.03)) - 4.0
    np.testing.assert_allclose(target_env.unwrapped.actuator.inner.torques, expected, rtol=1e-12)
    same = after_one_step(make_env(HOPPER), [expected / HOPPER_GAIN] * 3)
    np.testing.assert_allclose(moved, same, atol=1e-6)
    target_env.close()


def make_env_for(target):
    return make_env(target.env_id, target_condition(target))


@pytest.mark.parametrize(
    ("actuator", "message"),
    [
        (
            {"dc_motor": {**GOOD_MOTOR, "saturation_torque": -1}},
            "'actuator.dc_motor.saturation_torque' = -1",
        ),
        ({"dc_motor": {"saturation_torque": 5}}, "'actuator.dc_motor.no_load_speed' is required"),
        ({"servo": {}}, "must be one of"),
        (
            {"dc_motor": {**GOOD_MOTOR, "gear": 3}},
            "'actuator.dc_motor.gear' is not a known field",
        ),
        ({"learned": "no/such/dir"}, "no actuator.json"),
    ],
)
def test_bad_target_actuator_is_one_line(tmp_path, actuator, message):
    import yaml

    path = tmp_path / "t.yaml"
    data = {"name": "m", "env_id": HOPPER, "terms": [], "actuator": actuator}
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(UserError) as caught:
        load_target(path)
    text = str(caught.value)
    assert message in text and str(path) in text and "\n" not in text


def test_per_joint_values_must_fit_the_robot(tmp_path):
    import yaml

    path = tmp_path / "t.yaml"
    motor_values = {"saturation_torque": [50, 50], "no_load_speed": 10}
    motor_values |= {"time_constant_s": 0.01, "coulomb_friction": 1}
    data = {"name": "m", "env_id": HOPPER, "terms": [], "actuator": {"dc_motor": motor_values}}
    path.write_text(yaml.safe_dump(data))
    config = {
        "name": "x",
        "env": {"id": HOPPER},
        "targets": [str(path)],
        "algorithm": {"name": "PPO"},
        "total_timesteps": 10,
    }
    with pytest.raises(UserError, match="has 2 values; this robot has 3 actuated joints"):
        parse_config(config)


def test_config_env_actuator_is_checked_in_one_line():
    config = {
        "name": "x",
        "env": {"id": HOPPER, "kwargs": {"actuator": {"learned": "missing_dir"}}},
        "algorithm": {"name": "PPO"},
        "total_timesteps": 10,
    }
    with pytest.raises(UserError, match=r"env\.kwargs\.actuator.*no actuator\.json"):
        parse_config(config, source="c.yaml")


def test_conditions_carry_a_targets_actuator():
    """evaluate fixes a target as exact dynamics: its motor must come along."""
    from sim2real.envs.motors import DCMotorActuator
    from sim2real.evaluation.conditions import Condition

    target = load_target(resolve_file("hopper_dc_motor.yaml", "target"))
    env = make_env(HOPPER, Condition("dc_motor", dynamics={}, actuator=target.actuator))
    try:
        assert isinstance(env.unwrapped.actuator.inner, DCMotorActuator)
    finally:
        env.close()


class _StubClient:
    """Joint states with velocity 2.0; records the torques written."""

    def __init__(self):
        self.written = []

    def getJointStates(self, body, joints):  # noqa: N802 (PyBullet's name)
        return [(0.0, 2.0, (0.0,) * 6, 0.0) for _ in joints]

    def setJointMotorControlArray(self, body, joints, mode, forces):  # noqa: N802
        self.written.append(forces)


class _StubInner:
    parameters = ("motor_strength", "joint_friction")

    def __init__(self):
        self.client, self.body, self.joints = _StubClient(), 0, (0, 1)
        self.in_effect = np.zeros(2)

    def send(self, command):
        self.in_effect = command

    def configure(self, values):
        pass

    def reset(self):
        self.in_effect = np.zeros(2)


class _StubNetwork:
    """torque = command + velocity of the newest step; counts its calls."""

    history = 2
    directory = "stub"

    def __init__(self):
        self.calls = []

    def __call__(self, features):
        self.calls.append(features.copy())
        return features[:2] + features[2:4]


def test_learned_actuator_runs_once_per_control_step_and_scales_by_strength():
    from sim2real.envs.motors import LearnedActuator

    inner, network = _StubInner(), _StubNetwork()
    actuator = LearnedActuator(inner, network, steps_per_command=4)
    actuator.configure({"motor_strength": np.array([1.0, 0.5])})
    actuator.reset()
    for command in ([1.0, 1.0], [3.0, -1.0]):
        actuator.send(np.array(command))
        for _ in range(4):  # one control step of four physics steps
            actuator.apply()
    assert len(network.calls) == 2  # once per control step, not per physics step
    # The second call sees the newest command first, then the one before (history 2).
    np.testing.assert_allclose(network.calls[1], [3.0, -1.0, 2.0, 2.0, 1.0, 1.0, 2.0, 2.0])
    written = inner.client.written
    assert written[:4] == [[3.0, 1.5]] * 4  # (1 + 2, (1 + 2) x 0.5), held for the step
    assert written[4:] == [[5.0, 0.5]] * 4
