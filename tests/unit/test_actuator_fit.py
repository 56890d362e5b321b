"""The actuator network fit on synthetic data with a known answer, its input window, and the
saved network evaluated with numpy as the env evaluates it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sim2real.actuator_fit import FitSettings, actuator_dataset, fit_actuator, write_fit
from sim2real.data import RecordedData, save_data
from sim2real.envs.motors import ActuatorNetwork, network_features
from sim2real.errors import UserError
from sim2real.state import STATE_FIELDS

JOINTS = ("root", "a", "b")  # the first is not actuated: the fit must pick a's and b's columns


def known_torque(commands: np.ndarray, previous: np.ndarray, velocities: np.ndarray):
    """The answer: 20 x command + 5 x the previous command - 3 x velocity."""
    return 20 * commands + 5 * previous - 3 * velocities


def synthetic(lengths=(60,) * 10, seed=0, torques=True) -> RecordedData:
    rng = np.random.default_rng(seed)
    steps, rows = sum(lengths), sum(lengths) + len(lengths)
    widths = {"joint_positions": 3, "joint_velocities": 3, "base_orientation": 4}
    state = {name: rng.normal(size=(rows, widths.get(name, 3))) for name in STATE_FIELDS}
    actions = rng.uniform(-1, 1, size=(steps, 2))
    applied = np.zeros((steps, 2))
    for episode, length in enumerate(lengths):
        start, row = sum(lengths[:episode]), sum(lengths[:episode]) + episode
        commands = actions[start : start + length]
        previous = np.vstack([np.zeros((1, 2)), commands[:-1]])
        velocities = state["joint_velocities"][row : row + length, 1:]
        applied[start : start + length] = known_torque(commands, previous, velocities)
    return RecordedData(
        env_id="sim2real/Hopper-v0",
        control_dt=0.02,
        policy="random",
        observation_names=("o",),
        action_names=("a", "b"),
        joint_names=JOINTS,
        base_name="base",
        episode_lengths=np.array(lengths),
        observations=np.zeros((rows, 1), np.float32),
        state=state,
        actions=actions,
        rewards=np.zeros(steps),
        terminated=np.zeros(steps, bool),
        truncated=np.zeros(steps, bool),
        actuated_joint_names=("a", "b") if torques else (),
        joint_torques=applied if torques else None,
    )


def test_input_window_is_newest_first_with_zeros_before_the_episode():
    data = synthetic(lengths=(3, 2))
    dataset = actuator_dataset(data, history=2)
    assert dataset.features.shape == (5, 2 * 2 * 2) and dataset.episode.tolist() == [0, 0, 0, 1, 1]
    velocities = data.state["joint_velocities"][:, 1:]
    # Episode 1, its second step (row 4): commands of steps 4 and 3, velocities of state rows
    # 5 and 4 (episode 1's states start at row 4), newest first.
    expected = network_features(data.actions[[4, 3]][None], velocities[[5, 4]][None])[0]
    np.testing.assert_allclose(dataset.features[4], expected)
    first = dataset.features[3].reshape(2, 4)  # episode 1's first step: nothing before it
    np.testing.assert_allclose(first[1], 0.0)


def test_fit_recovers_a_known_actuator_and_the_env_reads_it_back(tmp_path):
    path = save_data(tmp_path / "synthetic.npz", synthetic())
    fit = fit_actuator(path, FitSettings(history=2, epochs=300, hidden=(32,), seed=0))
    report = fit.report
    assert report["steps"] == {"train": 480, "validation": 120}  # 2 of 10 episodes held out
    assert report["validation_rmse_percent"] < 2.0, report["rmse_percent_of_range"]
    # An ideal actuator (gain x command) cannot follow the velocity and history terms.
    assert report["ideal_validation_rmse_percent"] > 3 * report["validation_rmse_percent"]
    out = write_fit(fit, tmp_path / "act")
    assert {p.name for p in out.iterdir()} == {
        "actuator.json",
        "weights.npz",
        "report.json",
        "report.md",
    }
    assert json.loads((out / "actuator.json").read_text())["joint_names"] == ["a", "b"]
    network = ActuatorNetwork(out)  # numpy, no pickle: what LearnedActuator runs
    commands = np.array([[0.5, -0.2], [0.1, 0.3]])  # newest first
    velocities = np.array([[0.4, -0.6], [0.0, 0.0]])
    predicted = network(network_features(commands, velocities))
    answer = known_torque(commands[0], commands[1], velocities[0])
    torque_range = np.array(report["torque_range"])
    assert np.all(np.abs(predicted - answer) < 0.05 * torque_range), (predicted, answer)


def test_data_without_torques_and_bad_settings_are_one_line(tmp_path):
    path = save_data(tmp_path / "plain.npz", synthetic(torques=False))
    with pytest.raises(UserError, match="no joint_torques"):
        fit_actuator(path, FitSettings())
    good = save_data(tmp_path / "good.npz", synthetic())
    for settings, message in (
        (FitSettings(history=0), "--history"),
        (FitSettings(epochs=0), "--epochs"),
        (FitSettings(validation=1.5), "--validation"),
        (FitSettings(hidden=()), "--hidden"),
    ):
        with pytest.raises(UserError, match=message):
            fit_actuator(good, settings)
