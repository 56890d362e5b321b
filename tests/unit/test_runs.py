"""The run directory: refusing to overwrite, atomic JSON, checkpoint discovery, Run.open."""

import json
import math

import numpy as np
import pytest

from sim2real.errors import UserError
from sim2real.io import jsonable, write_json
from sim2real.runs import (
    META_FILE,
    Run,
    check_run_dir_free,
    checkpoint_name,
    default_run_dir,
)


def make_run_dir(path, status="running"):
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.yaml").write_text("name: x\n")
    write_json(path / META_FILE, {"status": status, "algorithm": "PPO", "timesteps": 0})
    return Run.open(path)


def test_default_run_dir_is_relative_to_cwd():
    assert str(default_run_dir("cartpole_dr", 3)) == "runs/cartpole_dr-seed3"


def test_checkpoint_names_sort_by_timestep():
    assert checkpoint_name(1234) == "step_000001234"
    assert sorted([checkpoint_name(10**9), checkpoint_name(5)]) == [
        checkpoint_name(5),
        checkpoint_name(10**9),
    ]


def test_missing_or_empty_dir_is_free(tmp_path):
    check_run_dir_free(tmp_path / "new", overwrite=False)
    (tmp_path / "empty").mkdir()
    check_run_dir_free(tmp_path / "empty", overwrite=False)


def test_existing_run_dir_needs_overwrite(tmp_path):
    make_run_dir(tmp_path / "run")
    with pytest.raises(UserError, match="already exists; pass --overwrite"):
        check_run_dir_free(tmp_path / "run", overwrite=False)
    check_run_dir_free(tmp_path / "run", overwrite=True)


def test_overwrite_never_deletes_a_directory_that_is_not_a_run(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "precious.txt").write_text("keep me")
    with pytest.raises(UserError, match="not a run directory"):
        check_run_dir_free(tmp_path / "data", overwrite=True)
    assert (tmp_path / "data" / "precious.txt").read_text() == "keep me"


def test_a_file_is_not_a_run_dir(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match="not a directory"):
        check_run_dir_free(tmp_path / "file", overwrite=True)


def test_open_rejects_a_directory_without_run_files(tmp_path):
    with pytest.raises(UserError, match="not a run directory"):
        Run.open(tmp_path)


@pytest.mark.parametrize(
    ("contract", "named"),
    [
        ({"source": {"run": "/runs/hopper-seed0"}}, "its contract.json names /runs/hopper-seed0"),
        ([1], "its contract.json names none"),  # damaged: said as far as it is known
    ],
)
def test_open_names_the_source_of_an_export_directory(tmp_path, contract, named):
    (tmp_path / "contract.json").write_text(json.dumps(contract))
    with pytest.raises(UserError) as caught:
        Run.open(tmp_path)
    assert str(caught.value) == (
        f"{tmp_path}: an exported policy, not a run directory; give the run it was exported "
        f"from ({named})"
    )


def test_paths_of_a_run(tmp_path):
    run = make_run_dir(tmp_path / "r")
    assert run.model_path == tmp_path / "r" / "model.zip"
    assert run.normalization_path == tmp_path / "r" / "normalization.npz"
    assert run.tb_dir == tmp_path / "r" / "tb"
    assert run.evaluations() == {"timesteps": [], "curves": {}, "returns": {}}
    with pytest.raises(UserError, match="has not finished"):
        run.summary()


def test_latest_checkpoint_ignores_staging_and_incomplete_dirs(tmp_path):
    run = make_run_dir(tmp_path / "r")
    assert run.latest_checkpoint() is None
    for step in (20, 100, 3):
        folder = run.checkpoints_dir / checkpoint_name(step)
        folder.mkdir(parents=True)
        (folder / "model.zip").write_bytes(b"zip")
    (run.checkpoints_dir / ".staging-step_000000500-123").mkdir()  # a killed save
    (run.checkpoints_dir / checkpoint_name(400)).mkdir()  # no model.zip: not a checkpoint
    assert [c.timesteps for c in run.checkpoints()] == [3, 20, 100]
    assert run.latest_checkpoint() == run.checkpoints_dir / "step_000000100"


def test_update_meta_merges_and_checks_status(tmp_path):
    run = make_run_dir(tmp_path / "r")
    run.update_meta(timesteps=42)
    assert run.meta == {"status": "running", "algorithm": "PPO", "timesteps": 42}
    with pytest.raises(ValueError, match="status"):
        run.update_meta(status="exploded")
    assert run.meta["status"] == "running"


def test_load_model_names_the_bad_algorithm(tmp_path):
    run = make_run_dir(tmp_path / "r")
    run.update_meta(algorithm="DQN9")
    with pytest.raises(UserError, match="field 'algorithm' = 'DQN9'"):
        run.load_model()


def test_json_is_strict_and_plain(tmp_path):
    data = {"a": np.float32(1.5), "b": np.arange(3), "c": math.nan, "d": (1, np.int64(2))}
    assert jsonable(data) == {"a": 1.5, "b": [0, 1, 2], "c": None, "d": [1, 2]}
    path = write_json(tmp_path / "x.json", data)
    assert json.loads(path.read_text()) == {"a": 1.5, "b": [0, 1, 2], "c": None, "d": [1, 2]}
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]  # no temp file left behind


def tiny_config():
    from sim2real.config import parse_config
    from sim2real.resources import shipped_dir

    cfg = {
        "name": "x",
        "env": {"id": "sim2real/CartPole-v0"},
        "algorithm": {"name": "PPO"},
        "total_timesteps": 64,
    }
    return parse_config(cfg, base_dir=shipped_dir())


def test_a_run_directory_appears_complete_or_not_at_all(tmp_path, monkeypatch):
    """A failure (or a kill) while the run files are written leaves no directory behind, so
    the next attempt needs no --overwrite and finds no half-made run to refuse."""
    import sim2real.runs as runs

    def disk_full(*args, **kwargs):
        raise OSError("disk full")

    with monkeypatch.context() as patch:
        patch.setattr(runs, "write_json", disk_full)
        with pytest.raises(OSError, match="disk full"):
            runs.create_run(tmp_path / "run", tiny_config())
    assert list(tmp_path.iterdir()) == []
    run = runs.create_run(tmp_path / "run", tiny_config())
    assert run.meta["status"] == "running" and (run.path / "config.yaml").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_create_run_replaces_a_run_only_when_asked(tmp_path):
    from sim2real.runs import create_run

    old = make_run_dir(tmp_path / "run", status="finished")
    (old.path / "model.zip").write_bytes(b"old")
    with pytest.raises(UserError, match="already exists; pass --overwrite"):
        create_run(old.path, tiny_config())
    assert (old.path / "model.zip").is_file()
    run = create_run(old.path, tiny_config(), overwrite=True)
    assert run.meta["status"] == "running"
    assert sorted(p.name for p in run.path.iterdir()) == ["config.yaml", META_FILE]


def test_create_run_fills_an_empty_directory_in_place_with_extra_meta(tmp_path):
    """A directory the user prepared (a mount, a link to one) is kept, not replaced."""
    from sim2real.runs import create_run

    (tmp_path / "volume").mkdir()
    (tmp_path / "run").symlink_to(tmp_path / "volume")
    run = create_run(tmp_path / "run", tiny_config(), meta={"phase": "teacher"})
    assert (tmp_path / "run").is_symlink()
    assert json.loads((tmp_path / "volume" / META_FILE).read_text())["phase"] == "teacher"
    assert run.meta["status"] == "running"
