"""record (with joint torques) on the Hopper's DC-motor target -> fit-actuator -> a training run
that drives the Hopper through the learned actuator; and their one-line errors."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from sim2real.cli import main
from sim2real.config import parse_config
from sim2real.data import load_data
from sim2real.envs.motors import LearnedActuator
from sim2real.errors import UserError
from sim2real.evaluation.conditions import make_env, target_condition
from sim2real.io import write_npz
from sim2real.resources import resolve_file
from sim2real.targets import load_target
from sim2real.training import train

pytestmark = pytest.mark.slow

HOPPER = "sim2real/Hopper-v0"


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("actuator")
    data = folder / "dc.npz"
    argv = ["record", "--policy", "random", "--env", HOPPER, "--target", "hopper_dc_motor.yaml"]
    assert main([*argv, "--episodes", "5", "--out", str(data), "--seed", "0"]) == 0
    out = folder / "act"
    argv = ["fit-actuator", str(data), "--out", str(out), "--history", "2", "--epochs", "5"]
    assert main(argv) == 0
    return data, out


def test_recorded_torques_are_the_motors(fitted):
    data = load_data(fitted[0])
    assert data.actuated_joint_names == ("thigh_joint", "leg_joint", "foot_joint")
    assert data.joint_torques.shape == (data.steps, 3)
    # The first step from rest: the lag's first share of 75 N*m x action, less 4 N*m at rest.
    first = 75.0 * (1 - np.exp(-0.0165 / 0.03)) * data.actions[0]
    expected = first - np.clip(first, -4.0, 4.0)
    np.testing.assert_allclose(data.joint_torques[0], expected, rtol=1e-9)


def test_fit_actuator_writes_its_report_and_training_uses_the_network(fitted, tmp_path):
    _, out = fitted
    report = json.loads((out / "report.json").read_text())
    assert report["joints"] == ["thigh_joint", "leg_joint", "foot_joint"]
    assert report["settings"]["history"] == 2 and report["steps"]["validation"] > 0
    for key in ("train", "validation"):
        assert len(report["rmse_percent_of_range"]["network"][key]) == 3
    assert "held-out validation steps" in (out / "report.md").read_text()
    config = parse_config(
        {
            "name": "learned",
            "env": {"id": HOPPER, "kwargs": {"actuator": {"learned": str(out)}}},
            "algorithm": {"name": "PPO", "hyperparams": {"n_steps": 64, "batch_size": 32}},
            "total_timesteps": 64,
            "evaluation": {"freq_steps": 0, "episodes": 1},
            "checkpoint": {"freq_steps": 0},
        }
    )
    run = train(config, tmp_path / "run", progress_bar=False, verbose=False)
    assert run.meta["status"] == "finished"
    assert run.config.env.kwargs["actuator"] == {"learned": str(out.resolve())}
    heavy = target_condition(load_target(resolve_file("hopper_heavy.yaml", "target")))
    learned = make_env(HOPPER, heavy, run.config.env.kwargs)  # a target without a motor
    try:
        assert isinstance(learned.unwrapped.actuator.inner, LearnedActuator)
        learned.reset(seed=0)
        learned.step(np.ones(3))
        assert np.all(np.isfinite(learned.unwrapped.actuator.inner.torques))
    finally:
        learned.close()
    report_dir = tmp_path / "eval"
    argv = ["evaluate", str(run.path), "--targets", "hopper_dc_motor.yaml", "--episodes", "1"]
    assert main([*argv, "--workers", "1", "--out", str(report_dir)]) == 0
    report = json.loads((report_dir / "report.json").read_text())
    assert "saturation_torque" in json.dumps(report)  # the target's motor is reported


def test_fit_actuator_bad_input_is_one_line(fitted, tmp_path, capsys):
    data, out = fitted
    no_torques = tmp_path / "no_torques.npz"
    with np.load(data, allow_pickle=False) as archive:
        arrays = {
            k: archive[k]
            for k in archive.files
            if k not in ("joint_torques", "actuated_joint_names")
        }
    write_npz(no_torques, arrays)
    cases = {
        "no joint_torques": [str(no_torques), "--out", str(tmp_path / "a")],
        "already exists": [str(data), "--out", str(out)],
        "--history": [str(data), "--out", str(tmp_path / "b"), "--history", "0"],
        "does not exist": [str(tmp_path / "none.npz"), "--out", str(tmp_path / "c")],
    }
    for message, args in cases.items():
        capsys.readouterr()
        assert main(["fit-actuator", *args]) == 2, args
        err = [
            line for line in capsys.readouterr().err.splitlines() if "pybullet build" not in line
        ]
        assert len(err) == 1 and message in err[0], (message, err)
    assert not any((tmp_path / name).exists() for name in "abc")


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (lambda a: a.update(b0=a["b0"][:-1]), "'b0' has shape"),
        (lambda a: a.update(w1=a["w1"][:, :-1]), "weight shapes"),
        (lambda a: a.update(input_std=np.zeros_like(a["input_std"])), "std <= 0"),
        (lambda a: a.update(w0=np.full_like(a["w0"], np.nan)), "NaN or infinite"),
    ],
)
def test_a_damaged_network_is_refused_when_the_config_loads(fitted, tmp_path, damage, problem):
    network = tmp_path / "act"
    shutil.copytree(fitted[1], network)
    with np.load(network / "weights.npz", allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    damage(arrays)
    write_npz(network / "weights.npz", arrays)
    config = {"env": {"id": HOPPER, "kwargs": {"actuator": {"learned": str(network)}}}}
    with pytest.raises(UserError, match=f"env.kwargs.actuator.learned.*{problem}"):
        parse_config({"name": "x", "total_timesteps": 64, **config})
    (network / "weights.npz").write_bytes(b"PK\x03\x04truncated")
    with pytest.raises(UserError, match="not a readable actuator network"):
        parse_config({"name": "x", "total_timesteps": 64, **config})
