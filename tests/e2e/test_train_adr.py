"""``sim2real train`` with an ``adr:`` section on tiny budgets: adr.json, checkpoints and
TensorBoard; ``--resume`` restoring bounds and buffers; ``sim2real export-spec``."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import pytest
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tiny import tiny_ppo  # tests/e2e/tiny.py: the shared tiny PPO config

from sim2real.callbacks.adr import AdrCallback
from sim2real.cli import main
from sim2real.config import parse_config
from sim2real.randomization import load_spec
from sim2real.runs import Run, create_run
from sim2real.training import train

pytestmark = pytest.mark.slow

SIM2REAL = str(Path(sys.executable).with_name("sim2real"))
# A random CartPole policy returns ~20: with these thresholds bounds move within 1024 steps.
ADR = {"threshold_high": 15, "threshold_low": 5, "buffer_size": 2, "boundary_probability": 0.8}
HARD_LIMITS = {  # randomization/cartpole_dr.yaml
    "link_mass:pole": (0.5, 3.0),
    "link_mass:cart": (0.6, 4.0),
    "joint_damping": (0.0, 3.0),
    "motor_strength": (0.25, 1.3),
    "gravity": (0.9, 1.1),
    "action_latency_s": (0.0, 0.06),
    "observation_noise_std": (0.0, 0.1),
}


def tiny_adr(**changes) -> dict:
    config = tiny_ppo(
        name="tiny_adr",
        targets=[],
        total_timesteps=1024,
        evaluation={"freq_steps": 0, "episodes": 1},
        checkpoint={"freq_steps": 512, "keep": 3},
        adr=dict(ADR),
    )
    config["algorithm"]["hyperparams"].update(n_steps=128, batch_size=128)
    config.update(changes)
    return config


def scalars(tb_dir: Path) -> dict[str, list[tuple[int, float]]]:
    accumulator = EventAccumulator(str(tb_dir), size_guidance={"scalars": 0})
    accumulator.Reload()
    tags = accumulator.Tags()["scalars"]
    return {tag: [(e.step, e.value) for e in accumulator.Scalars(tag)] for tag in tags}


@pytest.fixture(scope="module")
def adr_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("adr")
    (folder / "config.yaml").write_text(yaml.safe_dump(tiny_adr(), sort_keys=False))
    result = subprocess.run(
        [SIM2REAL, "train", "config.yaml", "--run-dir", "run", "--no-progress"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr
    return Run(folder / "run"), result.stdout


def test_adr_json_holds_bounds_inside_the_limits_and_their_history(adr_run):
    run, stdout = adr_run
    record = json.loads((run.path / "adr.json").read_text())
    assert record["timesteps"] == 1024
    assert set(record["bounds"]) == set(HARD_LIMITS)
    for name, (low, high) in record["bounds"].items():
        hard_low, hard_high = HARD_LIMITS[name]
        nominal = 0.0 if name in ("action_latency_s", "observation_noise_std") else 1.0
        assert hard_low <= low <= nominal <= high <= hard_high, name
    history = record["history"]
    assert history and any(move["move"] == "out" for move in history)
    assert all(0 < move["timesteps"] <= 1024 for move in history)
    moved = {(move["parameter"], move["side"]): move["after"] for move in history}
    for (name, side), after in moved.items():  # the last move of each bound is where it is
        assert record["bounds"][name][0 if side == "low" else 1] == after
    assert record["entropy"] > sum(math.log(1e-3 * (h - lo)) for lo, h in HARD_LIMITS.values())
    assert "adr @ " in stdout  # moves are reported as they happen


def test_checkpoints_carry_the_adr_state(adr_run):
    run, _ = adr_run
    record = json.loads((run.path / "adr.json").read_text())
    states = [
        json.loads((checkpoint.path / "checkpoint.json").read_text())["adr"]
        for checkpoint in run.checkpoints()
    ]
    assert [state["timesteps"] for state in states] == [512, 1024]
    assert states[-1]["bounds"] == record["bounds"]
    assert set(states[0]["buffers"]) == set(HARD_LIMITS)
    assert states[0]["history"] == [m for m in record["history"] if m["timesteps"] <= 512]


def test_tensorboard_has_bounds_and_entropy(adr_run):
    run, _ = adr_run
    record = json.loads((run.path / "adr.json").read_text())
    logged = scalars(run.tb_dir)
    for name, (low, high) in record["bounds"].items():
        assert logged[f"adr/{name}/low"][-1] == (1024, pytest.approx(low, rel=1e-6))
        assert logged[f"adr/{name}/high"][-1] == (1024, pytest.approx(high, rel=1e-6))
    # After the first rollout, when a bound moved or 1000 steps passed, and at the end.
    steps = [step for step, _ in logged["adr/entropy"]]
    moved_at = {-(-move["timesteps"] // 256) * 256 for move in record["history"]}
    assert steps == sorted({256, 1024} | moved_at)
    assert logged["adr/entropy"][-1][1] == pytest.approx(record["entropy"], rel=1e-6)
    assert logged["adr/width_fraction"][-1][1] == pytest.approx(record["width_fraction"])


def test_export_spec_writes_the_bounds_as_a_spec_that_loads(adr_run, tmp_path, capsys):
    run, _ = adr_run
    out = tmp_path / "reached.yaml"
    assert main(["export-spec", str(run.path), "--out", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    record = json.loads((run.path / "adr.json").read_text())
    spec = load_spec(out)
    original = load_spec("randomization/cartpole_dr.yaml")
    assert [t.parameter for t in spec.terms] == [t.parameter for t in original.terms]
    names = list(HARD_LIMITS)
    for name, term, before in zip(names, spec.terms, original.terms, strict=True):
        assert [term.distribution.low, term.distribution.high] == record["bounds"][name]
        assert (term.operation, term.selector, term.when) == (
            before.operation,
            before.selector,
            before.when,
        )
    env = gym.make("sim2real/CartPole-v0", randomization=str(out))
    env.reset(seed=0)
    env.close()
    config = parse_config({**tiny_adr(adr=None), "randomization": str(out)}, source="c.yaml")
    assert config.randomization.terms == spec.terms
    # An existing file (a hand-written spec, perhaps) is replaced only when asked.
    written = out.read_text()
    out.write_text("description: mine\nterms: []\n")
    err = one_line_error(capsys, ["export-spec", str(run.path), "--out", str(out)])
    assert "already exists; give a new file name, or --overwrite" in err
    assert out.read_text() == "description: mine\nterms: []\n"
    assert main(["export-spec", str(run.path), "--out", str(out), "--overwrite"]) == 0
    assert out.read_text() == written


def one_line_error(capsys, argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("sim2real export-spec: error: ")
    return err


def test_export_spec_refuses_bad_runs_in_one_line(adr_run, tmp_path, capsys):
    run, _ = adr_run
    out = str(tmp_path / "spec.yaml")
    assert "not a run directory" in one_line_error(
        capsys, ["export-spec", str(tmp_path), "--out", out]
    )
    plain = create_run(tmp_path / "plain", parse_config(tiny_adr(adr=None), source="c.yaml"))
    err = one_line_error(capsys, ["export-spec", str(plain.path), "--out", out])
    assert "not an ADR run (its config.yaml has no 'adr' section)" in err
    missing = tmp_path / "no_adr_json"
    shutil.copytree(run.path, missing)
    (missing / "adr.json").unlink()
    assert "adr.json: missing" in one_line_error(
        capsys, ["export-spec", str(missing), "--out", out]
    )
    (tmp_path / "a_file").write_text("")
    for bad_out, problem in [
        (tmp_path / "a_file" / "s.yaml", "is a file"),
        ("/dev/null", "regular"),
    ]:
        err = one_line_error(capsys, ["export-spec", str(run.path), "--out", str(bad_out)])
        assert problem in err
    damaged = tmp_path / "damaged"
    shutil.copytree(run.path, damaged)
    (damaged / "adr.json").write_text('{"bounds": 3}')
    assert "not an ADR state" in one_line_error(capsys, ["export-spec", str(damaged), "--out", out])
    record = json.loads((run.path / "adr.json").read_text())
    (damaged / "adr.json").write_text(json.dumps({**record, "buffers": []}))
    assert "not an ADR state" in one_line_error(capsys, ["export-spec", str(damaged), "--out", out])
    assert not Path(out).exists()


def test_resume_restores_bounds_buffers_and_history(tmp_path, monkeypatch):
    """A run killed after its checkpoint at 512 steps resumes with that checkpoint's ADR state
    (tests/env/test_adr_env.py checks the pushed specs on subprocess envs)."""
    config = parse_config(tiny_adr(), source="tiny_adr")
    run = train(config, tmp_path / "run", progress_bar=False, verbose=False)
    checkpoint = run.checkpoints()[0].path
    saved = json.loads((checkpoint / "checkpoint.json").read_text())["adr"]
    assert saved["history"] and any(
        saved["buffers"][n]["low"] + saved["buffers"][n]["high"] for n in saved["buffers"]
    )
    shutil.rmtree(run.checkpoints()[-1].path)  # killed between the checkpoints at 512 and 1024
    run.update_meta(status="running", timesteps=512)
    run.model_path.unlink()
    primed = []
    prime = AdrCallback.prime

    def capture(self, venv):
        primed.append(self.adr.state_dict())
        prime(self, venv)

    written = []
    on_training_start = AdrCallback._on_training_start

    def capture_start(self):
        on_training_start(self)
        written.append(json.loads((run.path / "adr.json").read_text()))

    monkeypatch.setattr(AdrCallback, "prime", capture)
    monkeypatch.setattr(AdrCallback, "_on_training_start", capture_start)
    train(None, run.path, resume=True, progress_bar=False, verbose=False)
    (at_start,) = written  # adr.json is rewritten with the restored state when training starts
    assert at_start["timesteps"] == 512 and at_start["bounds"] == saved["bounds"]
    assert at_start["history"] == saved["history"]
    (state,) = primed
    assert state["bounds"] == saved["bounds"] and state["buffers"] == saved["buffers"]
    record = json.loads((run.path / "adr.json").read_text())
    assert record["timesteps"] == 1024 and run.meta["status"] == "finished"
    assert record["history"][: len(saved["history"])] == saved["history"]
    assert all(move["timesteps"] > 512 for move in record["history"][len(saved["history"]) :])


def test_an_adr_run_fine_tunes_on_a_target_without_its_curriculum(adr_run, tmp_path):
    run, _ = adr_run
    out = tmp_path / "tuned"
    argv = ["transfer", str(run.path), "--target", "cartpole_heavy", "--budget", "256",
            "--run-dir", str(out), "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    tuned = Run.open(out)
    assert tuned.config.adr is None and tuned.has_final_policy
    assert not (out / "adr.json").exists()


def test_no_bound_moves_before_the_warmup_ends(tmp_path):
    config = parse_config(tiny_adr(adr={**ADR, "warmup_steps": 512}), source="tiny_adr")
    run = train(config, tmp_path / "run", progress_bar=False, verbose=False)
    history = json.loads((run.path / "adr.json").read_text())["history"]
    assert history and all(move["timesteps"] > 512 for move in history)


def test_a_warmup_as_long_as_the_run_is_said_and_keeps_the_initial_ranges(tmp_path, capsys):
    adr = {**ADR, "warmup_steps": 1024, "initial": {"gravity": [0.95, 1.05]}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(tiny_adr(adr=adr)))
    run_dir = tmp_path / "run"
    assert (
        main(["train", str(tmp_path / "config.yaml"), "--run-dir", str(run_dir), "--no-progress"])
        == 0
    )
    assert "note: adr.warmup_steps (1,024) is not below total_timesteps" in capsys.readouterr().out
    record = json.loads((run_dir / "adr.json").read_text())
    assert record["history"] == [] and record["bounds"]["gravity"] == [0.95, 1.05]


def test_export_spec_reads_an_rma_runs_adr_from_its_teacher(adr_run, tmp_path, capsys):
    """With `adaptation:`, ADR widens the teacher's ranges: adr.json is in teacher/."""
    run, _ = adr_run
    rma = tmp_path / "rma"
    shutil.copytree(run.path, rma / "teacher")
    shutil.copy(run.meta_path, rma / "run.json")
    config = tiny_adr(adaptation={"latent_size": 4, "history_steps": 10, "timesteps": 600})
    (rma / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    out = tmp_path / "new" / "spec.yaml"  # its folder is made
    assert main(["export-spec", str(rma), "--out", str(out)]) == 0, capsys.readouterr().err
    assert load_spec(out).terms
