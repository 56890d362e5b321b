"""``sim2real study`` on a local Ray instance (one for the module, 2 CPUs) with tiny budgets."""

from __future__ import annotations

import ast
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from sim2real.cli import main

REPO = Path(__file__).resolve().parents[2]
BASE_CONFIG = REPO / "configs" / "cartpole_dr.yaml"
# Trials that take seconds: a few PPO updates, one target, two evaluation episodes.
TINY = {
    "total_timesteps": 256,
    "n_envs": 2,
    "algorithm.hyperparams.n_steps": 64,
    "algorithm.hyperparams.batch_size": 64,
    "algorithm.hyperparams.n_epochs": 1,
    "evaluation.freq_steps": 128,
    "evaluation.episodes": 1,
    "checkpoint.freq_steps": 128,
    "targets": ["targets/cartpole_heavy.yaml"],
}


def write_study(directory: Path, **changes) -> Path:
    study = {
        "name": "tiny",
        "config": str(BASE_CONFIG),
        "set": dict(TINY),
        "grid": {"seed": [0, 1]},
        "evaluation": {"episodes": 2, "n_boot": 100},
        "resources": {"cpus": 1},
    }
    study.update(changes)
    path = directory / "study.yaml"
    path.write_text(yaml.safe_dump(study, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def ray_session():
    """One local Ray instance for the module (starting one takes seconds); its address."""
    ray = pytest.importorskip("ray")
    pytest.importorskip("ray.tune")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


def test_bad_study_file_is_one_line_before_ray_starts(tmp_path, capsys):
    pytest.importorskip("ray.tune")  # without it, `study` asks for the extra before the file
    cases = [
        ({"grid": {"algorithm.name": ["PPO", "XYZ"]}}, "field 'grid' (algorithm.name=XYZ)"),
        ({"grids": {"seed": [0]}}, "field 'grids' = {'seed': [0]}; not a known field; valid: name"),
        (
            {"grid": {}, "search": {"space": {"algorithm.hyperparams.gamma": {"uniform": [1, 0]}}}},
            "field 'search.space.algorithm.hyperparams.gamma.uniform' = [1, 0]; give [low, high]",
        ),
        (  # a search space is validated at its bounds
            {
                "grid": {},
                "search": {"space": {"algorithm.hyperparams.n_epochs": {"int": [1, 10**8]}}},
            },
            "field 'algorithm.hyperparams.n_epochs' = 100,000,000; must be <= 10,000",
        ),
        ({"metric": "best"}, "field 'metric' = 'best'"),
        ({"transfer": {"strategy": "bogus", "budget": 64}}, "valid: full, freeze, lr"),
        (
            {"transfer": {"strategy": "sysid", "budget": 64}},
            "field 'transfer.strategy' = 'sysid'; needs recorded data",
        ),
        (  # a varied strategy is checked at each grid point
            {
                "transfer": {"strategy": "full", "budget": 64},
                "grid": {"transfer.strategy": ["full", "sysid"]},
            },
            "field 'grid' (transfer.strategy=sysid): transfer.strategy = 'sysid'; needs recorded",
        ),
        (
            {"set": {**TINY, "init_from": "zoo:cartpole_dr"}},
            "a study's trials train from scratch; remove init_from",
        ),
        ({"grid": {"init_from": ["zoo:cartpole_dr"]}}, "a study's trials train from scratch"),
        # Values a trial's transfer run would refuse only once its policy is trained:
        (
            {"transfer": {"strategy": "freeze", "budget": 64, "freeze_layers": 9}},
            "option '--freeze' = 9; the actor has 2 hidden layer(s), valid: 1..2",
        ),
        (
            {"transfer": {"strategy": "lr", "budget": 64, "lr_scale": 1e9}},
            "must be > 0 and <= 1",
        ),
        (
            {"scheduler": {"name": "asha"}},
            "field 'scheduler.grace_period_steps' = 10000; must be <= the longest trial's",
        ),
        ({"grid": {"seed": [0, 0]}}, "field 'grid.seed' = [0, 0]; values must be distinct"),
    ]
    for changes, expected in cases:
        path = write_study(tmp_path, **changes)
        study_dir = tmp_path / "out"
        assert main(["study", str(path), "--dir", str(study_dir)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("sim2real study: error: "), err
        assert str(path) in err and expected in err, err
        assert not study_dir.exists()  # made just before Ray starts


def test_an_address_ray_cannot_join_is_one_line(tmp_path, capsys):
    # Before the tests of the module's Ray session: a process already in a session uses it.
    pytest.importorskip("ray.tune")
    path = write_study(tmp_path)
    argv = ["study", str(path), "--dir", str(tmp_path / "out"), "--address", "not an address"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--address 'not an address': cannot join a Ray" in err, err


def test_without_ray_one_line_says_how_to_install(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray.tune", None)  # `import ray.tune` raises ImportError
    assert main(["study", str(write_study(tmp_path)), "--dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "pip install 'sim2real[ray]'" in err, err
    assert not (tmp_path / "out").exists()


def test_only_the_study_runner_imports_ray():
    """The core and the CLI run without Ray: one module (imported by `sim2real study` once
    Ray is known to be there) imports it."""
    importers = []
    for folder in ("sim2real", "envs", "policies"):
        for path in (REPO / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
                if isinstance(node, ast.ImportFrom) and node.level == 0:
                    names = [node.module or ""]
                if any(name == "ray" or name.startswith("ray.") for name in names):
                    importers.append(path.relative_to(REPO).as_posix())
    assert sorted(set(importers)) == ["sim2real/study/tune.py"]


@pytest.mark.slow
def test_grid_study_writes_runs_and_one_report(ray_session, tmp_path, capsys):
    study_dir = tmp_path / "study"
    assert main(["study", str(write_study(tmp_path)), "--dir", str(study_dir)]) == 0
    assert "best: base" in capsys.readouterr().out
    trials = sorted((study_dir / "trials").iterdir())
    assert len(trials) == 2
    seeds = []
    for trial in trials:
        record = json.loads((trial / "trial.json").read_text())
        seeds.append(record["seed"])
        run = json.loads((trial / "train" / "run.json").read_text())
        assert run["status"] == "finished" and run["timesteps"] == 256
        assert (trial / "train" / "model.zip").is_file()
        evaluation = json.loads((trial / "evaluation" / "report.json").read_text())
        assert evaluation["kind"] == "evaluate"
        assert len(record["returns"]["heavy"]) == 2  # 2 episodes x 1 evaluation seed
    assert sorted(seeds) == [0, 1]
    for name in ("report.md", "report.json", "returns.png", "transfer_gap.png", "gap_matrix.png"):
        assert (study_dir / name).is_file(), name
    report = json.loads((study_dir / "report.json").read_text())
    assert report["kind"] == "study" and report["best"]["method"] == "base"
    assert [t["status"] for t in report["trials"]] == ["finished", "finished"]
    # One method with both seeds as strata: 4 episodes pooled on the target.
    heavy = report["evaluation"]["results"]["base"]["heavy"]
    assert heavy["summary"]["n"] == 4
    markdown = (study_dir / "report.md").read_text()
    assert "## Gap matrix" in markdown and "## Best configuration" in markdown


@pytest.mark.slow
def test_killed_study_resumes_without_rerunning_finished_trials(ray_session, tmp_path, capsys):
    """The driver is killed (SIGKILL) once the first of two trials finished; --resume runs the
    second and leaves the first one's run untouched."""
    path = write_study(tmp_path, max_concurrent=1)
    study_dir = tmp_path / "study"
    argv = ["study", str(path), "--dir", str(study_dir), "--address", ray_session]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), *sys.path])}
    driver = subprocess.Popen(
        [sys.executable, "-m", "sim2real.cli", *argv],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        # A guard against a hang, not a speed check: Ray's start and one tiny training can
        # take minutes on a loaded 2-core machine.
        deadline = time.monotonic() + 400
        while not list(study_dir.glob("trials/*/trial.json")):
            assert driver.poll() is None, "the study ended before it could be killed"
            assert time.monotonic() < deadline, "no trial finished in time"
            time.sleep(0.2)
    finally:
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait()
    wait_for_idle_cpus(2)  # Ray has ended the dead driver's trial
    [finished] = [p.parent for p in study_dir.glob("trials/*/trial.json")]
    run_json = finished / "train" / "run.json"
    before = (run_json.stat().st_mtime_ns, (finished / "train" / "model.zip").stat().st_mtime_ns)

    assert main([*argv, "--resume"]) == 0
    assert "best: base" in capsys.readouterr().out
    after = (run_json.stat().st_mtime_ns, (finished / "train" / "model.zip").stat().st_mtime_ns)
    assert after == before
    assert json.loads(run_json.read_text()).get("resumes") is None
    records = sorted(study_dir.glob("trials/*/trial.json"))
    assert len(records) == 2
    report = json.loads((study_dir / "report.json").read_text())
    assert sorted(t["status"] for t in report["trials"]) == ["finished", "finished"]


def wait_for_idle_cpus(count: int, timeout_s: float = 180) -> None:
    import ray

    deadline = time.monotonic() + timeout_s
    while ray.available_resources().get("CPU", 0) < count:
        assert time.monotonic() < deadline, "the killed study's trial still holds a CPU"
        time.sleep(0.2)


def test_resume_needs_a_started_study_and_the_same_file(tmp_path, capsys):
    pytest.importorskip("ray.tune")
    path = write_study(tmp_path)
    study_dir = tmp_path / "study"
    argv = ["study", str(path), "--dir", str(study_dir), "--resume"]
    assert main(argv) == 2
    assert "no study to resume there" in capsys.readouterr().err
    (study_dir / "tune").mkdir(parents=True)
    write_study(study_dir, grid={"seed": [5]})  # the copy a study keeps: another grid
    assert main(argv) == 2
    assert "differs from the study being resumed" in capsys.readouterr().err


def test_a_failed_trial_is_reported_by_its_cause_not_rays_traceback():
    exceptions = pytest.importorskip("ray.exceptions")
    from sim2real.errors import UserError
    from sim2real.study.tune import _cause

    cause = UserError("option '--freeze' = 9; the actor has 2 hidden layer(s), valid: 1..2")
    wrapped = exceptions.RayTaskError("train", "\x1b[36mray::ImplicitFunc.train()\x1b[39m\n", cause)
    assert _cause(wrapped) == str(cause)
    assert _cause(wrapped.as_instanceof_cause()) == str(cause)
    other = exceptions.RayTaskError("train", "Traceback ...\n", ValueError("bad value\nmore"))
    assert _cause(other) == "ValueError: bad value"
