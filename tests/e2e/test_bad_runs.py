"""Damaged run directories and unwritable outputs: every verb fails in one line, before any
work and without writing anything (issue 8, files the project reads and writes)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import gymnasium as gym
import pytest
import yaml
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

from sim2real.cli import main
from sim2real.config import parse_config
from sim2real.runs import Run, create_run, save_final_model

CARTPOLE = "sim2real/CartPole-v0"
CONFIG = {
    "name": "bad",
    "env": {"id": CARTPOLE},
    "targets": ["targets/cartpole_heavy.yaml"],
    "algorithm": {"name": "PPO", "hyperparams": {"n_steps": 64, "batch_size": 64}},
    "normalize": {"observations": True},
    "total_timesteps": 64,
}


@pytest.fixture(scope="module")
def good_run(tmp_path_factory) -> Path:
    """A finished run directory with an (untrained) PPO model and its normalization."""
    from sim2real.resources import shipped_dir

    cfg = parse_config(CONFIG, base_dir=shipped_dir())
    run = create_run(tmp_path_factory.mktemp("runs") / "good", cfg)
    venv = VecNormalize(DummyVecEnv([lambda: gym.make(CARTPOLE)]), norm_reward=False)
    model = PPO(
        "MlpPolicy", venv, n_steps=64, batch_size=64, policy_kwargs={"net_arch": [8]}, device="cpu"
    )
    save_final_model(run, model)
    venv.close()
    run.update_meta(status="finished", timesteps=64)
    return run.path


def _edit_json(path: Path, **changes) -> None:
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


def _as_sac(run: Path) -> None:
    """run.json and config.yaml both say SAC; model.zip holds a PPO model."""
    _edit_json(run / "run.json", algorithm="SAC")
    config = yaml.safe_load((run / "config.yaml").read_text())
    config["algorithm"] = {"name": "SAC", "hyperparams": {}}
    (run / "config.yaml").write_text(yaml.safe_dump(config))


DAMAGE = {
    "truncated model": (
        lambda run: (run / "model.zip").write_bytes((run / "model.zip").read_bytes()[:3000]),
        "model.zip: not",
    ),
    "model not a zip": (lambda run: (run / "model.zip").write_text("hello"), "model.zip: not"),
    "no model, no checkpoint": (
        lambda run: (run / "model.zip").unlink(),
        "model.zip: missing, and no checkpoint, though run.json says the run finished",
    ),
    "run.json a list": (lambda run: (run / "run.json").write_text("[1, 2]"), "run.json: expected"),
    "run.json not UTF-8": (
        lambda run: (run / "run.json").write_bytes(b'{"a": "\xff"}'),
        "run.json: cannot read JSON",
    ),
    "run.json seed a string": (
        lambda run: _edit_json(run / "run.json", seed="x"),
        "run.json: field 'seed' = 'x'; must be a whole number >= 0",
    ),
    "run.json with only env_id": (
        lambda run: (run / "run.json").write_text('{"env_id": "sim2real/CartPole-v0"}'),
        "run.json: field 'algorithm' missing",
    ),
    "run.json algorithm differs from config": (
        lambda run: _edit_json(run / "run.json", algorithm="SAC"),
        "run.json: field 'algorithm' = 'SAC' but config.yaml trains 'PPO'",
    ),
    "model of another algorithm": (_as_sac, "as a SAC model"),
    "config.yaml a list": (lambda run: (run / "config.yaml").write_text("[1]\n"), "config.yaml"),
    "truncated normalization": (
        lambda run: (run / "normalization.npz").write_bytes(b"PK\x03\x04"),
        "normalization.npz: not a normalization .npz file",
    ),
    "missing normalization": (
        lambda run: (run / "normalization.npz").unlink(),
        "normalization.npz: missing, but config.yaml normalizes observations",
    ),
}
VERBS = {
    "evaluate": lambda run, out: ["evaluate", run, "--episodes", "1", "--out", out],
    "sweep": lambda run, out: ["sweep", run, "--param", "gravity", "--values=-10,-9", "--out", out],
    "export": lambda run, out: ["export", run, "--out", out],
    "transfer": lambda run, out: (
        ["transfer", run, "--target", "cartpole_heavy.yaml"]
        + ["--budget", "64", "--run-dir", out, "--no-progress"]
    ),
}


def one_line_error(capsys, argv: list[str]) -> str:
    assert main([str(arg) for arg in argv]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    return err


@pytest.mark.parametrize("verb", VERBS)
@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_run_is_one_line_naming_the_file_and_nothing_is_written(
    good_run, tmp_path, capsys, damage, verb
):
    run = tmp_path / "run"
    shutil.copytree(good_run, run)
    spoil, expected = DAMAGE[damage]
    spoil(run)
    out = tmp_path / "out"
    err = one_line_error(capsys, VERBS[verb](run, out))
    assert err.startswith(f"sim2real {verb}: error: "), err
    assert expected in err, err
    assert not out.exists()


@pytest.mark.parametrize("damage", ["run.json a list", "run.json seed a string"])
def test_compare_reads_runs_with_the_same_reader(good_run, tmp_path, capsys, damage):
    run = tmp_path / "run"
    shutil.copytree(good_run, run)
    DAMAGE[damage][0](run)
    err = one_line_error(capsys, ["compare", run, "--scratch", good_run, "--out", tmp_path / "o"])
    assert DAMAGE[damage][1] in err


def test_damaged_learning_curves_are_one_line(good_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(good_run, run)
    _edit_json(run / "run.json", strategy="full", transfer={"target": "heavy"})
    (run / "evaluations.json").write_text('{"timesteps": [0, 10], "curves": {"heavy": [1]}}')
    err = one_line_error(capsys, ["compare", run, "--scratch", good_run])
    assert "evaluations.json: field 'curves.heavy' must be a list of 2 numbers" in err


def test_the_reader_accepts_the_good_run(good_run):
    run = Run.read(good_run)
    assert run.meta["status"] == "finished"
    assert run.policy_files() == (run.model_path, run.normalization_path)


# -- output locations --------------------------------------------------------------------------


@pytest.fixture
def a_file(tmp_path) -> Path:
    path = tmp_path / "a_file"
    path.write_text("not a directory")
    return path


@pytest.mark.parametrize("verb", VERBS)
def test_an_output_inside_a_file_is_refused_before_any_work(good_run, a_file, capsys, verb):
    err = one_line_error(capsys, VERBS[verb](good_run, a_file / "out"))
    assert f"{a_file} is a file, so no directory can be made inside it" in err


@pytest.mark.parametrize("verb", ["evaluate", "sweep", "compare"])
def test_an_existing_file_as_report_directory_is_refused(good_run, a_file, capsys, verb):
    argv = {
        "evaluate": ["evaluate", good_run, "--out", a_file],
        "sweep": ["sweep", good_run, "--param", "gravity", "--values=-10", "--out", a_file],
        "compare": ["compare", good_run, "--scratch", good_run, "--out", a_file],
    }[verb]
    assert f"--out {a_file}: exists and is not a directory" in one_line_error(capsys, argv)


def test_export_refuses_an_existing_path_and_train_a_file_as_run_dir(good_run, a_file, capsys):
    assert "already exists" in one_line_error(capsys, ["export", good_run, "--out", a_file])
    argv = ["train", "cartpole_nominal.yaml", "--run-dir", a_file]
    assert "exists and is not a directory" in one_line_error(capsys, argv)
    assert "--resume" in one_line_error(capsys, ["train", "--resume", a_file])


def test_an_unwritable_output_is_refused_before_any_rollout(good_run, tmp_path, capsys):
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only directories")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    err = one_line_error(capsys, VERBS["evaluate"](good_run, locked / "out"))
    assert f"cannot write in {locked}" in err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["train", "a" * 300], "no experiment file 'aaa"),
        (["evaluate", "a" * 300], "aaa...: File name too long"),
        (["evaluate", "zoo:cartpole_dr", "--targets", "a" * 300], "no target file 'aaa"),
    ],
)
def test_a_path_the_os_refuses_is_one_line(argv, expected, capsys):
    assert expected in one_line_error(capsys, argv)


def test_export_writes_a_bundle_with_plain_permissions(good_run, tmp_path, capsys):
    previous = os.umask(0o022)
    try:
        assert main(["export", str(good_run), "--out", str(tmp_path / "bundle")]) == 0
    finally:
        os.umask(previous)
    bundle = tmp_path / "bundle"
    assert bundle.stat().st_mode & 0o777 == 0o755
    entries = list(bundle.rglob("*"))
    assert {p.stat().st_mode & 0o777 for p in entries if p.is_file()} == {0o644}
    assert {p.stat().st_mode & 0o777 for p in entries if p.is_dir()} == {0o755}  # targets/


@pytest.mark.parametrize(
    ("spoil", "expected"),
    [
        (lambda b: (b / "metadata.json").write_text("[1]"), "metadata.json: expected a JSON"),
        (lambda b: (b / "metadata.json").write_bytes(b"\xff"), "metadata.json: cannot read JSON"),
        (lambda b: (b / "weights.npz").write_bytes(b"PK\x03\x04"), "weights.npz: cannot read"),
        (lambda b: (b / "normalization.npz").unlink(), "normalization.npz: cannot read"),
    ],
)
def test_a_damaged_bundle_is_one_line_naming_the_file(good_run, tmp_path, spoil, expected):
    from sim2real.errors import UserError
    from sim2real.policies.bundle import load_bundle

    bundle = tmp_path / "bundle"
    assert main(["export", str(good_run), "--out", str(bundle)]) == 0
    load_bundle(bundle)
    spoil(bundle)
    with pytest.raises(UserError, match=expected) as caught:
        load_bundle(bundle)
    assert "\n" not in str(caught.value)
