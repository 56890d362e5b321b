"""``sim2real train`` of a config with ``adaptation:`` (RMA) end to end on tiny budgets: both
phases' files and TensorBoard curves, the student evaluated like any run and exported with
its history as the graph's input, ``--resume`` in the middle of either phase, and Ctrl-C in
phase 2."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tiny import assert_acts_alike  # tests/e2e/tiny.py: shared helpers

from sim2real.cli import main
from sim2real.config import config_to_dict, load_config
from sim2real.envs.wrappers import History
from sim2real.evaluation.conditions import NOMINAL_CONDITION, make_env, target_condition
from sim2real.evaluation.evaluate import EvaluationSettings
from sim2real.policies import zoo
from sim2real.policies.predictor import load_predictor
from sim2real.runs import Run
from sim2real.training import train as train_config
from sim2real.transfer.rma.layout import TEACHER_DIR, phase2_checkpoints
from sim2real.transfer.rma.student import StudentPolicy

pytestmark = pytest.mark.slow

SIM2REAL = str(Path(sys.executable).with_name("sim2real"))

# The shipped cartpole_rma.yaml on tiny budgets: teacher checkpoints at 256 and 512 steps;
# phase 2 iterations of 2 envs x 50 steps, checkpoints at 300 and 600 student steps.
TINY = [
    "total_timesteps=512",
    "n_envs=2",
    "normalize.observations=true",
    "algorithm.hyperparams.n_steps=128",
    "algorithm.hyperparams.batch_size=128",
    "algorithm.hyperparams.n_epochs=2",
    "algorithm.hyperparams.policy_kwargs.net_arch=[32,32]",
    "targets=[targets/cartpole_heavy.yaml]",
    "evaluation.freq_steps=256",
    "evaluation.episodes=2",
    "checkpoint.freq_steps=256",
    "checkpoint.keep=3",
    "adaptation.latent_size=4",
    "adaptation.encoder_layers=[16]",
    "adaptation.history_steps=10",
    "adaptation.timesteps=600",
    "adaptation.rollout_steps=50",
    "adaptation.epochs=2",
    "adaptation.batch_size=32",
]


def train(*args: str) -> int:
    return main(["train", *args, "--no-progress"])


def tags(tb_dir: Path) -> set[str]:
    accumulator = EventAccumulator(str(tb_dir), size_guidance={"scalars": 0})
    accumulator.Reload()
    return set(accumulator.Tags()["scalars"])


def scalars(path: Path, tag: str) -> list[tuple[int, float]]:
    accumulator = EventAccumulator(str(path), size_guidance={"scalars": 0})
    accumulator.Reload()
    return [(event.step, event.value) for event in accumulator.Scalars(tag)]


@pytest.fixture(scope="module")
def rma_run(tmp_path_factory) -> Run:
    run_dir = tmp_path_factory.mktemp("rma") / "run"
    assert train("cartpole_rma.yaml", "--run-dir", str(run_dir), *tiny_sets()) == 0
    return Run.open(run_dir)


def test_train_runs_the_teacher_then_the_student(rma_run):
    meta = rma_run.meta
    assert (meta["status"], meta["phase"]) == ("finished", "student")
    assert (meta["teacher_timesteps"], meta["student_timesteps"]) == (512, 600)
    assert meta["timesteps"] == meta["total_timesteps"] == 1112
    teacher = Run.open(rma_run.path / "teacher")
    assert teacher.meta["status"] == "finished"
    assert teacher.config.name == "cartpole_rma_teacher"
    assert "privileged" in teacher.config.env.kwargs
    assert [c.timesteps for c in teacher.checkpoints()] == [256, 512]
    # The student's body is the teacher's final model.
    assert rma_run.model_path.read_bytes() == teacher.model_path.read_bytes()
    assert (rma_run.path / "adaptation.pt").is_file()
    assert [steps for steps, _ in phase2_checkpoints(rma_run.path)] == [300, 600]
    summary = json.loads(rma_run.summary_path.read_text())
    assert list(summary["conditions"]) == ["nominal", "dr", "heavy"]
    assert summary["timesteps"] == 600
    assert all(row["episodes"] == 2 for row in summary["conditions"].values())


def test_each_phase_has_its_tensorboard_curves(rma_run):
    teacher_tags = tags(rma_run.path / "teacher" / "tb")
    assert {"rollout/ep_rew_mean", "eval/nominal/mean_return", "train/loss"} <= teacher_tags
    loss = scalars(rma_run.tb_dir, "adaptation/latent_loss")
    assert [step for step, _ in loss] == [100, 200, 300, 400, 500, 600]
    assert scalars(rma_run.tb_dir, "adaptation/student_return")


def test_the_student_is_evaluated_like_any_run(rma_run, tmp_path):
    out = tmp_path / "evaluate"
    assert (
        main(
            ["evaluate", str(rma_run.path), "--episodes", "2", "--workers", "1", "--out", str(out)]
        )
        == 0
    )
    report = json.loads((out / "report.json").read_text())
    assert "cartpole_rma" in json.dumps(report)


def test_the_student_exports_as_torchscript_with_its_history_as_input(rma_run, tmp_path):
    out = tmp_path / "exported"
    assert main(["export", str(rma_run.path), "--format", "torchscript", "--out", str(out)]) == 0
    contract = json.loads((out / "contract.json").read_text())
    assert contract["inputs"] == [{"name": "history", "shape": ["batch", 50], "dtype": "float32"}]
    assert contract["history"] == {
        "steps": 10,
        "observation_dim": 4,
        "action_dim": 1,
        "layout": contract["history"]["layout"],
    }
    assert contract["parity"]["observations"] == 256
    assert contract["parity"]["max_abs_diff"] <= 1e-5
    # A deployment feeds the graph what the History wrapper builds from the robot's own
    # observations and the actions it sent: the student's actions, step by step.
    graph = torch.jit.load(str(out / "policy.pt"))
    student = StudentPolicy.from_run(rma_run.path)
    config = rma_run.config
    env = make_env(config.env.id, target_condition(config.targets[0]), config.env.kwargs)
    wrapped = History(env, 10)
    try:
        history, _ = wrapped.reset(seed=5)
        observation = history[36:40]  # the newest observation of the history
        compared = 0
        while compared < 30:
            with torch.no_grad():
                action = graph(torch.as_tensor(history[None]))[0].numpy()
            np.testing.assert_allclose(action, student.predict(observation), atol=1e-5)
            compared += 1
            history, _, terminated, truncated, _ = wrapped.step(action)
            observation = history[36:40]
            if terminated or truncated:
                break
        assert compared > 10  # the history filled up (k = 10) before the episode ended
    finally:
        wrapped.close()


def test_a_student_becomes_a_zoo_entry_of_arrays_that_acts_like_it(rma_run, tmp_path):
    settings = EvaluationSettings(episodes=2, workers=1, n_boot=50)
    entry = zoo.add_entry(rma_run.path, "tiny_rma", settings=settings, zoo_dir=tmp_path)
    files = {path.name for path in entry.path.rglob("*") if path.is_file()}
    assert {"weights.npz", "adaptation.npz", "config.yaml"} <= files
    assert not [name for name in files if name.endswith((".zip", ".pt", ".pkl"))]
    assert entry.card["parity"]["max_abs_diff"] <= 1e-5
    assert "adaptation.npz" in entry.card["files"]
    assert "config + adaptation.npz + " in (entry.path / "README.md").read_text()
    student, rebuilt = StudentPolicy.from_run(rma_run.path), load_predictor(entry.path)
    assert isinstance(rebuilt, StudentPolicy)
    config = rma_run.config
    env = make_env(config.env.id, target_condition(config.targets[0]), config.env.kwargs)
    try:  # the same actions along the student's own episode, history and all
        observation, _ = env.reset(seed=3)
        for _ in range(30):
            action = student.predict(observation)
            np.testing.assert_allclose(rebuilt.predict(observation), action, atol=1e-6)
            observation, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                break
    finally:
        env.close()


def test_a_teacher_is_no_zoo_entry(rma_run, tmp_path, capsys):
    """Its card's command would train teacher and student; the deployable policy is the student."""
    teacher = rma_run.path / TEACHER_DIR
    assert main(["zoo", "add", str(teacher), "--name", "t", "--zoo-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "the privileged teacher of an adaptation" in err
    assert not (tmp_path / "t").exists()


def test_a_student_exports_as_torchscript_only(rma_run, tmp_path, capsys):
    out = tmp_path / "exported"
    assert main(["export", str(rma_run.path), "--format", "bundle", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "exports as torchscript" in err
    assert not out.exists()


def test_resume_in_the_middle_of_phase_2(rma_run, tmp_path):
    run = Run.open(shutil.copytree(rma_run.path, tmp_path / "run"))
    # As a process killed after the checkpoint at 300 student steps leaves it.
    shutil.rmtree(phase2_checkpoints(run.path)[-1][1])
    (run.path / "adaptation.pt").unlink()
    run.summary_path.unlink()
    run.update_meta(status="running", student_timesteps=300, timesteps=0)
    at_300 = torch.load(phase2_checkpoints(run.path)[-1][1] / "module.pt", weights_only=True)

    assert train("--resume", str(run.path)) == 0
    meta = run.meta
    assert (meta["status"], meta["student_timesteps"], meta["timesteps"]) == ("finished", 600, 1112)
    assert meta["resumes"][-1]["phase"] == "student"
    assert [steps for steps, _ in phase2_checkpoints(run.path)] == [300, 600]
    final = torch.load(run.path / "adaptation.pt", weights_only=True)
    assert any(not torch.equal(final[name], at_300[name]) for name in final)
    # The loss curve continues after the checkpoint, in a second event file of the same tb/.
    newest = max(run.tb_dir.glob("events.out.tfevents.*"), key=lambda p: p.stat().st_mtime)
    assert [step for step, _ in scalars(newest, "adaptation/latent_loss")] == [400, 500, 600]
    assert json.loads(run.summary_path.read_text())["timesteps"] == 600


def test_resume_in_the_middle_of_the_teacher(rma_run, tmp_path):
    run = Run.open(shutil.copytree(rma_run.path, tmp_path / "run"))
    teacher = Run.open(run.path / "teacher")
    # As a process killed in phase 1 after the teacher's checkpoint at 256 steps leaves it.
    shutil.rmtree(teacher.checkpoints()[-1].path)
    for path in (teacher.model_path, teacher.summary_path, run.model_path, run.normalization_path):
        path.unlink()
    for path in (run.path / "adaptation", run.tb_dir):
        shutil.rmtree(path)
    (run.path / "adaptation.pt").unlink()
    run.summary_path.unlink()
    teacher.update_meta(status="running", timesteps=256)
    run.update_meta(status="running", phase="teacher", student_timesteps=0, timesteps=0)

    assert train("--resume", str(run.path)) == 0
    assert teacher.meta["status"] == "finished" and teacher.meta["resumes"][-1]["timesteps"] == 256
    meta = run.meta
    assert (meta["status"], meta["phase"], meta["timesteps"]) == ("finished", "student", 1112)
    assert meta["resumes"][-1]["phase"] == "teacher"
    assert (run.path / "adaptation.pt").is_file() and run.summary_path.is_file()


def test_a_refused_resume_leaves_the_run_as_it_was(rma_run, tmp_path, capsys):
    run = Run.open(shutil.copytree(rma_run.path, tmp_path / "run"))
    # Phase 2 refuses its damaged latest checkpoint before it trains.
    (phase2_checkpoints(run.path)[-1][1] / "checkpoint.json").write_text("{")
    run.update_meta(status="interrupted", interrupted_by="SIGINT", student_timesteps=300)
    before = run.meta
    assert train("--resume", str(run.path)) == 2
    assert "checkpoint.json: cannot read JSON" in capsys.readouterr().err
    assert run.meta == before
    # The teacher refuses its damaged config before it trains.
    teacher = Run.open(run.path / "teacher")
    teacher.update_meta(status="interrupted")
    teacher.config_path.write_text("total_timesteps: [")
    run.update_meta(phase="teacher")
    before = run.meta
    assert train("--resume", str(run.path)) == 2
    assert run.meta == before


def test_train_hands_the_teachers_evaluations_to_on_evaluation(tmp_path):
    """How a study reports a trial's intermediate evaluations to ASHA."""
    config = load_config("cartpole_rma.yaml", [*TINY, "adaptation.timesteps=100"])
    seen = []
    run = train_config(
        config,
        tmp_path / "run",
        progress_bar=False,
        verbose=False,
        on_evaluation=lambda steps, returns: seen.append(steps),
    )
    assert run.meta["status"] == "finished"
    assert seen and seen == Run.open(run.path / "teacher").evaluations()["timesteps"]


def test_the_last_student_rollout_stops_at_the_phase_2_budget(tmp_path):
    """130 student steps with rollouts of 2 envs x 50: 100, then 2 x 15, never 200."""
    config = load_config("cartpole_rma.yaml", [*TINY, "adaptation.timesteps=130"])
    run = train_config(config, tmp_path / "run", progress_bar=False, verbose=False)
    assert (run.meta["status"], run.meta["student_timesteps"]) == ("finished", 130)
    assert [step for step, _ in scalars(run.tb_dir, "adaptation/latent_loss")] == [100, 130]


def test_a_teacher_that_reads_some_parameters_gives_a_student_that_acts(tmp_path):
    """``adaptation.privileged_parameters``: the teacher's observation ends with those
    parameters' entries only; phase 2 labels and the student work on that layout."""
    read = "adaptation.privileged_parameters=[link_mass, motor_strength]"
    config = load_config("cartpole_rma.yaml", [*TINY, "adaptation.timesteps=100", read])
    run = train_config(config, tmp_path / "run", progress_bar=False, verbose=False)
    assert run.meta["status"] == "finished"
    teacher = Run.open(run.path / TEACHER_DIR)
    names = ["dr:link_mass:cart", "dr:link_mass:pole", "dr:motor_strength:slider_to_cart"]
    teacher_env = make_env(teacher.config.env.id, NOMINAL_CONDITION, teacher.config.env.kwargs)
    try:
        assert teacher_env.unwrapped.privileged_names == tuple(names)
    finally:
        teacher_env.close()
    assert teacher.load_model(device="cpu").observation_space.shape == (4 + len(names),)
    env = make_env(config.env.id, target_condition(config.targets[0]))
    try:
        student = StudentPolicy.from_run(run.path)
        observation, _ = env.reset(seed=0)
        assert env.action_space.contains(student.predict(observation))
    finally:
        env.close()
    # bench/rma_latent.py reads the same layout: z is driven by the two parameters only.
    out = tmp_path / "latent.json"
    bench = Path(__file__).resolve().parents[2] / "bench" / "rma_latent.py"
    args = [str(run.path), "--episodes", "1", "--draws", "20", "--json", str(out)]
    subprocess.run([sys.executable, str(bench), *args], check=True, capture_output=True)
    numbers = json.loads(out.read_text())
    assert set(numbers["drivers"]) == {"link_mass", "motor_strength"}
    assert set(numbers["tracking"]) == {"nominal", "dr", "heavy"}
    assert all(row["r2"] <= 1.0 for row in numbers["tracking"].values())
    assert all(np.isfinite(row["action_mse"]) for row in numbers["tracking"].values())


def test_a_teacher_on_a_short_history_gives_a_student_that_evaluates_and_exports(tmp_path):
    """``env.history_steps: 2`` with an adaptation section: the teacher's body reads [o_(t-1),
    o_t, a_(t-2), a_(t-1)] and z (RMA's base policy reads a_(t-1)); the student takes that
    window out of its own 10 steps, in phase 2, evaluations and its export alike."""
    sets = [*TINY, "adaptation.timesteps=100", "env.history_steps=2"]
    config = load_config("cartpole_rma.yaml", sets)
    run = train_config(config, tmp_path / "run", progress_bar=False, verbose=False)
    assert run.meta["status"] == "finished"
    teacher = Run.open(run.path / TEACHER_DIR)
    model = teacher.load_model(device="cpu")
    teacher_env = make_env(teacher.config.env.id, NOMINAL_CONDITION, teacher.config.env.kwargs)
    try:
        privileged = len(teacher_env.unwrapped.privileged_names)
    finally:
        teacher_env.close()
    # The window, then the privileged entries (once, not per step).
    assert model.observation_space.shape == (2 * (4 + 1) + privileged,)
    assert model.policy.pi_features_extractor.observation_size == 10
    # The teacher evaluates on its own (its history policy keeps the window, z after it).
    out = tmp_path / "teacher_eval"
    args = ["evaluate", str(teacher.path), "--episodes", "1", "--workers", "1", "--out", str(out)]
    assert main(args) == 0
    # Its export takes the window, then its privileged entries, and keeps the window itself.
    teacher_export = tmp_path / "teacher_export"
    args = ["export", str(teacher.path), "--format", "torchscript", "--out", str(teacher_export)]
    assert main(args) == 0
    history = json.loads((teacher_export / "contract.json").read_text())["history"]
    assert (history["observation_dim"], history["privileged_dim"]) == (4, privileged)
    exported, reference = load_predictor(teacher_export), load_predictor(teacher.path)
    teacher_env = make_env(teacher.config.env.id, NOMINAL_CONDITION, teacher.config.env.kwargs)
    assert_acts_alike(exported, reference, teacher_env, 15, seed=1)
    student = StudentPolicy.from_run(run.path)
    assert (student.window.steps, student.observation_size, student.steps) == (2, 4, 10)
    assert json.loads(run.summary_path.read_text())["conditions"]["nominal"]["episodes"] == 2
    exported = tmp_path / "exported"
    assert main(["export", str(run.path), "--format", "torchscript", "--out", str(exported)]) == 0
    contract = json.loads((exported / "contract.json").read_text())
    assert contract["history"]["steps"] == 10 and contract["history"]["observation_dim"] == 4
    assert contract["parity"]["max_abs_diff"] <= 1e-5
    # bench/rma_latent.py builds the teacher's windowed observation to compare z with.
    latent = tmp_path / "latent.json"
    bench = Path(__file__).resolve().parents[2] / "bench" / "rma_latent.py"
    args = [str(run.path), "--episodes", "1", "--draws", "20", "--json", str(latent)]
    subprocess.run([sys.executable, str(bench), *args], check=True, capture_output=True)
    tracking = json.loads(latent.read_text())["tracking"]
    assert all(np.isfinite(row["action_mse"]) for row in tracking.values())


def test_phase_2_fits_the_last_dataset_rollouts_and_logs_the_fresh_error(tmp_path, monkeypatch):
    """Rollouts of 2 envs x 50 steps, a dataset of the last 3: each update fits 100, 200, then
    300 samples; the fresh rollout's error is logged before each update."""
    from sim2real.transfer.rma.phase2 import Regression

    sizes: list[int] = []
    fit = Regression.fit

    def recording_fit(self, samples, epochs, rng):
        sizes.append(len(samples))
        return fit(self, samples, epochs, rng)

    monkeypatch.setattr(Regression, "fit", recording_fit)
    config = load_config(
        "cartpole_rma.yaml", [*TINY, "adaptation.timesteps=500", "adaptation.dataset_rollouts=3"]
    )
    run = train_config(config, tmp_path / "run", progress_bar=False, verbose=False)
    assert sizes == [100, 200, 300, 300, 300]
    fresh = scalars(run.tb_dir, "adaptation/latent_loss_fresh")
    assert [step for step, _ in fresh] == [100, 200, 300, 400, 500]
    assert all(np.isfinite(value) and value >= 0 for _, value in fresh)


def tiny_sets(*extra: str) -> list[str]:
    return [item for pair in (("--set", s) for s in [*TINY, *extra]) for item in pair]


def test_a_student_of_a_reused_teacher_on_the_action_loss(rma_run, tmp_path, monkeypatch):
    """adaptation.teacher: phase 1 copies the finished teacher (nothing trained); phase 2 on
    the teacher's actions logs its curves beside the latent's fresh error."""
    run_dir = tmp_path / "student"
    monkeypatch.chdir(rma_run.path.parent)  # a relative --set is taken from here
    sets = tiny_sets(f"adaptation.teacher={rma_run.path.name}", "adaptation.loss=action")
    assert train("cartpole_rma.yaml", "--run-dir", str(run_dir), *sets) == 0
    run = Run.open(run_dir)
    assert run.config.adaptation.teacher == str(rma_run.path.resolve())  # kept absolute
    origin = rma_run.path / TEACHER_DIR
    assert run.meta["teacher_from"] == str(origin.resolve())
    assert (run.meta["status"], run.meta["student_timesteps"]) == ("finished", 600)
    assert run.meta["teacher_timesteps"] == Run.open(origin).meta["timesteps"]
    copied = Run.open(run.path / TEACHER_DIR)
    assert copied.meta == {**Run.open(origin).meta, "copied_from": str(origin.resolve())}
    assert not copied.checkpoints_dir.exists()
    assert run.model_path.read_bytes() == (origin / "model.zip").read_bytes()
    curves = tags(run.tb_dir)
    assert {"adaptation/action_loss", "adaptation/action_loss_fresh"} <= curves
    assert "adaptation/latent_loss_fresh" in curves and "adaptation/latent_loss" not in curves
    losses = [value for _, value in scalars(run.tb_dir, "adaptation/action_loss")]
    assert len(losses) == 6 and all(np.isfinite(losses)) and min(losses) >= 0
    assert set(json.loads(run.summary_path.read_text())["conditions"]) == {"nominal", "dr", "heavy"}


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["adaptation.latent_size=3"], "its teacher trained with adaptation.latent_size = 4, "),
        (["seed=1"], "its teacher trained with seed = 0, this config's would with 1;"),
        (
            ["algorithm.hyperparams.n_epochs=3"],
            "its teacher trained with algorithm.hyperparams.n_epochs = 2, ",
        ),
    ],
)
def test_a_reused_teacher_that_differs_is_refused_before_any_work(
    rma_run, tmp_path, capsys, extra, expected
):
    sets = tiny_sets(f"adaptation.teacher={rma_run.path}", *extra)
    assert train("cartpole_rma.yaml", "--run-dir", str(tmp_path / "student"), *sets) == 2
    error = capsys.readouterr().err.strip()
    assert f"field 'adaptation.teacher' = '{rma_run.path}': {expected}" in error
    assert len(error.splitlines()) == 1
    assert not (tmp_path / "student").exists()


def test_a_reused_teacher_must_be_a_finished_teacher_outside_the_run(rma_run, tmp_path, capsys):
    unfinished = Run.open(shutil.copytree(rma_run.path, tmp_path / "unfinished"))
    Run.open(unfinished.path / TEACHER_DIR).update_meta(status="interrupted")
    plain = tmp_path / "plain"
    assert train("cartpole_dr.yaml", "--run-dir", str(plain), "--set", "total_timesteps=64") == 0
    cases = [
        (unfinished.path, tmp_path / "a", "its teacher has not finished (status 'interrupted')"),
        (plain, tmp_path / "b", "not an adaptation run nor its teacher"),
        (tmp_path / "none", tmp_path / "c", "not a run directory"),
        (rma_run.path, rma_run.path / "inside", "would replace it"),
    ]
    for teacher, run_dir, expected in cases:
        sets = tiny_sets(f"adaptation.teacher={teacher}")
        assert train("cartpole_rma.yaml", "--run-dir", str(run_dir), *sets) == 2
        assert expected in capsys.readouterr().err
        assert not run_dir.exists()


def test_a_teacher_copy_cut_short_leaves_nothing_and_resumes(rma_run, tmp_path, monkeypatch):
    copytree = shutil.copytree

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(shutil, "copytree", interrupted)
    config = load_config("cartpole_rma.yaml", [*TINY, f"adaptation.teacher={rma_run.path}"])
    run_dir = tmp_path / "student"
    with pytest.raises(KeyboardInterrupt):
        train_config(config, run_dir, progress_bar=False, verbose=False)
    run = Run.open(run_dir)
    assert (run.meta["status"], run.meta["phase"]) == ("interrupted", "teacher")
    assert sorted(path.name for path in run_dir.iterdir()) == ["config.yaml", "run.json"]
    monkeypatch.setattr(shutil, "copytree", copytree)
    monkeypatch.chdir(tmp_path)  # the origin's path was made absolute
    run = train_config(None, run_dir, resume=True, progress_bar=False, verbose=False)
    assert (run.meta["status"], run.meta["student_timesteps"]) == ("finished", 600)


def test_sigint_in_phase_2_keeps_a_checkpoint_to_resume_from(rma_run, tmp_path):
    run = Run.open(shutil.copytree(rma_run.path, tmp_path / "run"))
    # Phase 2 from its start, with far more steps than the test waits for.
    shutil.rmtree(run.path / "adaptation")
    (run.path / "adaptation.pt").unlink()
    config = yaml.safe_load(run.config_path.read_text())
    config["adaptation"]["timesteps"] = 1_000_000
    run.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    run.update_meta(status="interrupted", student_timesteps=0)
    process = subprocess.Popen(
        [SIM2REAL, "train", "--resume", str(run.path), "--no-progress"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while not phase2_checkpoints(run.path) and process.poll() is None:
        assert time.monotonic() < deadline, "no phase-2 checkpoint appeared in time"
        time.sleep(0.05)
    assert process.poll() is None, process.communicate()
    os.killpg(process.pid, signal.SIGINT)  # Ctrl-C in a terminal reaches the whole group
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "Traceback" not in err
    meta = run.meta
    assert (meta["status"], meta["interrupted_by"], meta["phase"]) == (
        "interrupted",
        "SIGINT",
        "student",
    )
    assert phase2_checkpoints(run.path)[-1][0] == meta["student_timesteps"] > 0


def test_fine_tuning_a_student_is_refused_in_one_line_before_any_work(rma_run, tmp_path, capsys):
    data = tmp_path / "heavy.npz"
    assert main(["record", "--policy", "sine", "--env", "sim2real/CartPole-v0", "--target",
                 "cartpole_heavy", "--episodes", "1", "--out", str(data)]) == 0  # fmt: skip
    capsys.readouterr()
    for extra in (
        ["--target", "cartpole_heavy", "--budget", "256"],
        ["--strategy", "sysid", "--data", str(data)],
    ):
        out = tmp_path / "out"
        argv = ["transfer", str(rma_run.path), *extra, "--run-dir", str(out), "--no-progress"]
        assert main(argv) == 2
        captured = capsys.readouterr()
        assert captured.err.count("\n") == 1 and "an RMA run" in captured.err
        assert "identif" not in captured.out  # refused before system identification ran
        assert not out.exists()


def test_an_oracle_from_a_students_config_is_a_plain_run(rma_run, tmp_path):
    out = tmp_path / "oracle"
    argv = ["transfer", str(rma_run.path), "--target", "cartpole_heavy", "--budget", "256",
            "--strategy", "scratch", "--run-dir", str(out), "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    oracle = Run.open(out)
    assert oracle.config.adaptation is None
    assert oracle.has_final_policy and not (out / "teacher").exists()


def test_a_sac_teacher_gives_a_student_that_evaluates_exports_and_ships(tmp_path):
    """The off-policy teacher: its actor reads the privileged encoder, the student its body."""
    config = config_to_dict(load_config("cartpole_rma.yaml"))
    config["algorithm"] = {
        "name": "SAC",
        "policy": "MlpPolicy",
        "hyperparams": {
            "buffer_size": 1000,
            "learning_starts": 100,
            "batch_size": 32,
            "use_sde": True,
            "policy_kwargs": {"net_arch": [32, 32]},
        },
    }
    path = tmp_path / "rma_sac.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    run_dir = tmp_path / "run"
    sets = ["total_timesteps=300", "n_envs=1", "evaluation.freq_steps=300",
            "evaluation.episodes=1", "checkpoint.freq_steps=300",
            "targets=[targets/cartpole_heavy.yaml]",
            *(s for s in TINY if s.startswith("adaptation."))]  # fmt: skip
    args = [item for pair in (("--set", s) for s in sets) for item in pair]
    assert train(str(path), "--run-dir", str(run_dir), *args) == 0
    run = Run.open(run_dir)
    assert (run.meta["status"], run.meta["student_timesteps"]) == ("finished", 600)
    assert Run.open(run_dir / "teacher").meta["algorithm"] == "SAC"
    student = StudentPolicy.from_run(run_dir)
    assert type(student.model).__name__ == "SAC"
    assert scalars(run.tb_dir, "adaptation/latent_loss")

    out = tmp_path / "exported"
    assert main(["export", str(run_dir), "--format", "torchscript", "--out", str(out)]) == 0
    assert json.loads((out / "contract.json").read_text())["parity"]["max_abs_diff"] <= 1e-5
    settings = EvaluationSettings(episodes=1, workers=1, n_boot=50)
    entry = zoo.add_entry(run_dir, "tiny_rma_sac", settings=settings, zoo_dir=tmp_path / "zoo")
    assert entry.card["parity"]["max_abs_diff"] <= 1e-5
    rebuilt = load_predictor(entry.path)
    observation = np.zeros(4, np.float32)
    np.testing.assert_allclose(
        rebuilt.predict(observation), student.predict(observation), atol=1e-6
    )
