"""``sim2real record``, ``data`` and ``identify`` on tiny budgets, and their one-line errors."""

import json

import numpy as np
import pytest
import torch

from sim2real.cli import main
from sim2real.randomization import load_spec
from sim2real.targets import load_target

CARTPOLE = "sim2real/CartPole-v0"


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "heavy.npz"
    argv = ["record", "--policy", "sine", "--env", CARTPOLE, "--target", "cartpole_heavy.yaml"]
    assert main([*argv, "--episodes", "3", "--out", str(path), "--seed", "1"]) == 0
    return path


def one_line_error(capsys, argv, expected):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    assert expected in err, err


def test_record_data_identify(data_file, tmp_path, capsys):
    assert main(["data", str(data_file)]) == 0
    summary = capsys.readouterr().out
    assert "3 episode(s)" in summary and "cart_to_pole.pos" in summary
    out = tmp_path / "new" / "fit"  # its folder is made
    argv = ["identify", str(data_file), "--randomization", "cartpole_dr.yaml", "--params"]
    argv += ["link_mass", "gravity", "--budget", "40", "--workers", "1", "--out", str(out)]
    assert main(argv) == 0
    out_text = capsys.readouterr().out
    assert "identified" in out_text
    assert ": 40 evaluations, then at least" in out_text  # the analysis is announced too
    files = {"report.json", "report.md", "spec.yaml", "target.yaml", "trajectories.png", "loss.png"}
    assert files <= {p.name for p in out.iterdir()}
    report = json.loads((out / "report.json").read_text())
    names = [fit["name"] for fit in report["fits"]]
    assert names == ["link_mass:pole", "link_mass:cart", "gravity"]
    assert report["loss_curve"][-1][0] <= 40 and report["loss"]["fit"] < report["loss"]["nominal"]
    target = load_target(out / "target.yaml")
    assert target.env_id == CARTPOLE
    spec = load_spec(out / "spec.yaml")
    pole = [t for t in spec.terms if t.parameter == "link_mass" and t.selector == ("pole",)]
    (fit,) = [f for f in report["fits"] if f["name"] == "link_mass:pole"]
    assert pole[0].distribution.low <= fit["value"] <= pole[0].distribution.high
    damping = [t for t in spec.terms if t.parameter == "joint_damping"]
    assert damping[0].operation == "scale"  # not fitted: the original term
    import gymnasium as gym

    env = gym.make(CARTPOLE, randomization=spec)  # the re-centred spec binds
    env.close()


def test_identify_bad_input_exits_2_in_one_line(data_file, tmp_path, capsys):
    base = [str(data_file), "--randomization", "cartpole_dr.yaml", "--out"]
    one_line_error(capsys, ["identify", str(tmp_path / "none.npz"), *base[1:], "x"], "not exist")
    one_line_error(
        capsys, ["identify", *base, str(tmp_path / "a"), "--params", "kp"], "--params kp"
    )
    one_line_error(capsys, ["identify", *base, str(tmp_path / "b"), "--budget", "3"], "--budget")
    one_line_error(
        capsys, ["identify", *base, str(tmp_path / "c"), "--budget", "2000000"], "--budget"
    )
    one_line_error(
        capsys,
        ["identify", *base[:1], "--randomization", "hopper_dr.yaml", "--out", str(tmp_path / "d")],
        "matches nothing",
    )
    one_line_error(
        capsys,
        ["identify", *base, str(tmp_path / "e"), "--params", "observation_noise_std"],
        "not identifiable",
    )
    with np.load(data_file, allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files}
    arrays["env_id"] = np.array("sim2real/Hopper-v0")
    other = tmp_path / "other.npz"
    np.savez(other, **arrays)
    argv = [
        "identify",
        str(other),
        "--randomization",
        "hopper_dr.yaml",
        "--out",
        str(tmp_path / "f"),
    ]
    one_line_error(capsys, argv, "recorded with")
    assert not any(p.name in "abcdef" for p in tmp_path.iterdir())


def test_record_bad_input_exits_2_in_one_line(tmp_path, capsys):
    base = ["record", "--env", CARTPOLE, "--episodes", "1", "--out", str(tmp_path / "d.npz")]
    one_line_error(capsys, [*base, "--target", "cartpole_heavy.yaml"], "give one policy")
    one_line_error(
        capsys,
        [*base, "--policy", "zero", "--target", "hopper_heavy.yaml"],
        "not sim2real/CartPole",
    )
    one_line_error(capsys, [*base, "runs/none", "--target", "cartpole_heavy.yaml"], "RUN runs/none")
    one_line_error(capsys, ["data", str(tmp_path / "none.npz")], "does not exist")


def test_record_keeps_existing_files_and_special_files(data_file, tmp_path, capsys):
    """A robot's logs are not replaced without --overwrite, /dev/null is never replaced, a
    missing folder is made, and a zoo entry records like a run."""
    argv = ["record", "--env", CARTPOLE, "--target", "cartpole_heavy.yaml", "--episodes", "1"]
    before = data_file.read_bytes()
    one_line_error(capsys, [*argv, "--policy", "zero", "--out", str(data_file)], "--overwrite")
    assert data_file.read_bytes() == before
    one_line_error(capsys, [*argv, "--policy", "zero", "--out", "/dev/null"], "not a regular file")
    nested = tmp_path / "new" / "folder" / "zoo.npz"
    assert main([*argv, "zoo:cartpole_dr", "--out", str(nested)]) == 0
    assert "zoo/cartpole_dr" in str(np.load(nested)["policy"])
    assert main([*argv, "--policy", "zero", "--out", str(nested), "--overwrite"]) == 0
    assert str(np.load(nested)["policy"]) == "zero"


def tiny_a1_run(path, **kwargs):
    """An A1 run of one rollout with these env kwargs."""
    from tiny import tiny_ppo  # tests/e2e/tiny.py: the shared tiny PPO config

    from sim2real.config import parse_config
    from sim2real.training import train

    algorithm = {"name": "PPO", "hyperparams": {"n_steps": 64, "batch_size": 64, "n_epochs": 1}}
    config = tiny_ppo(
        env={"id": "sim2real/A1-v0", "kwargs": kwargs},
        randomization=None,
        targets=[],
        algorithm=algorithm,
        n_envs=1,
        total_timesteps=64,
        evaluation={"freq_steps": 0},
        checkpoint={"freq_steps": 0},
    )
    return train(parse_config(config), path, progress_bar=False, verbose=False)


def record_a1(run, out) -> None:
    argv = ["record", str(run.path), "--env", "sim2real/A1-v0", "--target", "a1_heavy.yaml"]
    assert main([*argv, "--episodes", "1", "--out", str(out)]) == 0


def identify_a1(out) -> list[str]:
    argv = ["identify", str(out), "--randomization", "a1_dr.yaml", "--params", "link_mass"]
    return [*argv, "--out", str(out.parent / "fit")]


def test_record_observes_as_the_policy_was_trained(tmp_path, capsys):
    """A run trained with a gait clock (two more observation entries) records with it, as
    ``evaluate`` rolls it out; identify's default env then refuses the file in one line."""
    from sim2real.data import load_data

    run = tiny_a1_run(tmp_path / "run", gait_frequency_hz=2.0)
    out = tmp_path / "a1.npz"
    record_a1(run, out)
    assert load_data(out).observation_names[-2:] == ("gait_clock_sin", "gait_clock_cos")
    expected = (
        "recorded with observation names (47 of them) 'gait_clock_sin' at position 45, but "
        "sim2real/A1-v0 has nothing there (45 of them)"
    )
    one_line_error(capsys, identify_a1(out), expected)
    elsewhere = ["record", str(run.path), "--env", "sim2real/Hopper-v0", "--target"]
    elsewhere += ["hopper_heavy.yaml", "--episodes", "1", "--out", str(tmp_path / "h.npz")]
    one_line_error(capsys, elsewhere, "; it was trained on sim2real/A1-v0")


def test_record_acts_within_the_policys_own_action_bounds(tmp_path, capsys):
    """A policy trained with action_clip 3 whose mean is 2.5 sends 2.5 (the default env would
    clip it to 1); identify, which replays on the default bounds, refuses the file."""
    from sim2real.data import load_data

    run = tiny_a1_run(tmp_path / "run", action_clip=3.0)
    model = run.load_model()
    torch.nn.init.zeros_(model.policy.action_net.weight)
    torch.nn.init.constant_(model.policy.action_net.bias, 2.5)
    model.save(run.path / "model.zip")
    out = tmp_path / "a1.npz"
    record_a1(run, out)
    np.testing.assert_allclose(load_data(out).actions, 2.5)
    one_line_error(capsys, identify_a1(out), "is 2.5, beyond sim2real/A1-v0's bound of 1")


def test_record_keeps_the_targets_motors(tmp_path):
    """The policy's training actuator is not the robot's: a target without ``actuator:`` is
    recorded on the ideal one, as the measured torques show."""
    from sim2real.data import load_data

    motor = {"saturation_torque": 5.0, "no_load_speed": 21.0, "time_constant_s": 0.01}
    motor["coulomb_friction"] = 0.5
    run = tiny_a1_run(tmp_path / "run", actuator={"dc_motor": motor})
    model = run.load_model()  # it sends 0, as --policy zero does
    torch.nn.init.zeros_(model.policy.action_net.weight)
    torch.nn.init.zeros_(model.policy.action_net.bias)
    model.save(run.path / "model.zip")
    record_a1(run, tmp_path / "dc.npz")
    argv = ["record", "--policy", "zero", "--env", "sim2real/A1-v0", "--target", "a1_heavy.yaml"]
    assert main([*argv, "--episodes", "1", "--out", str(tmp_path / "ideal.npz")]) == 0
    recorded, expected = load_data(tmp_path / "dc.npz"), load_data(tmp_path / "ideal.npz")
    np.testing.assert_array_equal(recorded.joint_torques, expected.joint_torques)


def test_record_takes_a_bare_policy_bundle(tmp_path):
    """A bundle written by the Python API (no run.json, no contract) records on the env's
    defaults, as its run does."""
    from sim2real.data import load_data
    from sim2real.policies.bundle import export_bundle
    from sim2real.policies.normalization import load_normalization

    run = tiny_a1_run(tmp_path / "run")
    statistics = load_normalization(run.path / "normalization.npz")
    bundle = export_bundle(run.load_model(), tmp_path / "bundle", "sim2real/A1-v0", statistics)
    for policy, name in ((run.path, "run.npz"), (bundle, "bundle.npz")):
        argv = ["record", str(policy), "--env", "sim2real/A1-v0", "--target", "a1_heavy.yaml"]
        assert main([*argv, "--episodes", "1", "--out", str(tmp_path / name)]) == 0
    from_run, from_bundle = load_data(tmp_path / "run.npz"), load_data(tmp_path / "bundle.npz")
    np.testing.assert_allclose(from_bundle.actions[:50], from_run.actions[:50], atol=1e-4)
