"""``sim2real train`` end to end on tiny budgets: the run directory, TensorBoard (event files and
the real server), bad configs, and SIGINT / SIGTERM / SIGKILL followed by ``--resume``."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
import yaml
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.save_util import load_from_pkl
from stable_baselines3.common.vec_env import DummyVecEnv
from stopping import SIM2REAL, start, stop, wait_for_checkpoint  # tests/e2e/stopping.py
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tiny import tiny_ppo  # tests/e2e/tiny.py: the shared tiny PPO config

from sim2real.cli import main
from sim2real.config import config_to_dict, load_config
from sim2real.policies.normalization import load_normalization
from sim2real.runs import Run
from sim2real.training import train

pytestmark = pytest.mark.slow

# PyBullet's C code prints this when the first client connects (envs/quiet.py only silences
# stdout); it is not an error line of ours.
PYBULLET_BANNER = "pybullet build time:"


def tiny_sac(**changes) -> dict:
    config = tiny_ppo(
        name="tiny_sac",
        algorithm={
            "name": "SAC",
            "hyperparams": {
                "learning_starts": 50,
                "buffer_size": 10000,
                "batch_size": 32,
                "train_freq": 4,
                "learning_rate": "lin_7.3e-4",
                "policy_kwargs": {"net_arch": [32, 32]},
            },
        },
        n_envs=1,
        normalize={"observations": True},
        checkpoint={"freq_steps": 200, "save_replay_buffer": True, "keep": 2},
    )
    config.update(changes)
    return config


def write_config(folder: Path, config: dict, name: str = "config.yaml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def start_train(args: list[str], cwd: Path) -> subprocess.Popen:
    return start("train", args, cwd)


def run_train(args: list[str], cwd: Path, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        [SIM2REAL, "train", *args, "--no-progress"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if not line.startswith(PYBULLET_BANNER)]


def scalars(path: Path, tag: str) -> list[tuple[int, float]]:
    """``(step, value)`` of a scalar tag in an event file or a log directory."""
    accumulator = EventAccumulator(str(path), size_guidance={"scalars": 0})
    accumulator.Reload()
    return [(event.step, event.value) for event in accumulator.Scalars(tag)]


def event_files(tb_dir: Path) -> list[Path]:
    return sorted(tb_dir.glob("events.out.tfevents.*"), key=lambda p: p.stat().st_mtime)


# -- one tiny PPO run, inspected from every side ----------------------------------------------


@pytest.fixture(scope="module")
def ppo_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ppo")
    config = load_config(write_config(folder, tiny_ppo()))
    run = train(config, folder / "run", progress_bar=False, verbose=False)
    return config, run


def test_train_writes_every_file_of_the_run_dir(ppo_run):
    config, run = ppo_run
    root = run.path
    for name in ("config.yaml", "run.json", "model.zip", "normalization.npz"):
        assert (root / name).is_file(), name
    for name in ("evaluations.json", "summary.json"):
        assert json.loads((root / name).read_text())
    assert len(list(run.tb_dir.glob("events.out.tfevents.*"))) == 1
    assert [p for p in run.tb_dir.iterdir() if p.is_dir()] == []  # no PPO_1/ sub-folder
    # 2 envs x 256 steps per rollout: exactly 4096 timesteps, checkpoints at 2048 and 4096.
    assert [c.timesteps for c in run.checkpoints()] == [2048, 4096]
    for checkpoint in run.checkpoints():
        files = sorted(p.name for p in checkpoint.path.iterdir())
        assert files == ["checkpoint.json", "model.zip", "normalization.npz"]
        assert json.loads((checkpoint.path / "checkpoint.json").read_text())["timesteps"] == (
            checkpoint.timesteps
        )
    leftovers = [p for p in root.rglob(".*")]
    assert leftovers == [], leftovers  # no staging dirs or temp files
    meta = run.meta
    assert meta["status"] == "finished" and meta["timesteps"] == 4096
    assert (meta["env_id"], meta["algorithm"], meta["seed"]) == ("sim2real/CartPole-v0", "PPO", 0)
    assert meta["device"] == "cpu" and meta["source_run"] is None
    assert config_to_dict(run.config) == config_to_dict(config)
    assert run.load_model().num_timesteps == 4096


def test_evaluations_and_summary_agree(ppo_run):
    _, run = ppo_run
    history = run.evaluations()
    assert history["timesteps"] == [2048, 4096]
    assert list(history["curves"]) == ["nominal", "dr", "heavy"]
    for name, curve in history["curves"].items():
        returns = history["returns"][name]
        assert [len(r) for r in returns] == [2, 2]
        np.testing.assert_allclose(curve, [np.mean(r) for r in returns])
        assert all(1 <= value <= 500 for r in returns for value in r)
    summary = run.summary()
    assert summary["timesteps"] == 4096
    table = summary["conditions"]
    assert list(table) == ["nominal", "dr", "heavy"]
    nominal = table["nominal"]["mean"]
    for name, row in table.items():
        assert row["returns"] == history["returns"][name][-1]  # the last curve point is final
        assert row["mean"] == pytest.approx(np.mean(row["returns"]))
        assert row["std"] == pytest.approx(np.std(row["returns"]))
        assert row["gap"] == pytest.approx(nominal - row["mean"])
        assert row["gap_normalized"] == pytest.approx((nominal - row["mean"]) / abs(nominal))


def test_final_evaluation_used_the_training_normalization(ppo_run):
    config, run = ppo_run
    normalization = load_normalization(run.normalization_path)
    assert normalization.norm_obs and normalization.norm_reward
    assert normalization.obs_count >= config.total_timesteps
    model = run.load_model()
    envs = DummyVecEnv([lambda: Monitor(gym.make(config.env.id))] * 2)
    venv = normalization.inference_env(envs)
    assert not venv.training and not venv.norm_reward
    venv.seed(run.summary()["seed"])
    returns, _ = evaluate_policy(model, venv, 2, deterministic=True, return_episode_rewards=True)
    venv.close()
    assert sorted(returns) == sorted(run.summary()["conditions"]["nominal"]["returns"])


def test_tensorboard_event_files(ppo_run):
    config, run = ppo_run
    events = EventAccumulator(str(run.tb_dir), size_guidance={"scalars": 0, "histograms": 0})
    events.Reload()
    tags = events.Tags()
    expected = {
        "eval/nominal/mean_return",
        "eval/dr/mean_return",
        "eval/heavy/mean_return",
        "gap/dr",
        "gap/heavy",
        "gap_normalized/heavy",
        "reward_terms/alive",
        "dynamics/link_mass/pole",
        "dynamics/link_mass/cart",
        "dynamics/gravity/z",
        "rollout/ep_rew_mean",
        "train/learning_rate",
    }
    assert expected <= set(tags["scalars"]), expected - set(tags["scalars"])
    assert "dynamics_hist/link_mass/pole" in tags["histograms"]

    history = run.evaluations()
    nominal = events.Scalars("eval/nominal/mean_return")
    heavy = events.Scalars("eval/heavy/mean_return")
    assert [e.step for e in nominal] == history["timesteps"]
    np.testing.assert_allclose([e.value for e in nominal], history["curves"]["nominal"], 1e-6)
    gap = [e.value for e in events.Scalars("gap/heavy")]
    np.testing.assert_allclose(
        gap, [n.value - h.value for n, h in zip(nominal, heavy, strict=True)], 1e-5
    )

    # Sampled dynamics lie inside the DR ranges of configs/randomization/cartpole_dr.yaml.
    env = gym.make(config.env.id)
    nominal_pole = float(env.unwrapped.nominal["link_mass"][1])
    gravity = float(env.unwrapped.nominal["gravity"][0])
    env.close()
    poles = [e.value for e in events.Scalars("dynamics/link_mass/pole")]
    assert all(0.5 * nominal_pole <= v <= 3.0 * nominal_pole for v in poles), poles
    assert all(
        1.1 * gravity <= e.value <= 0.9 * gravity for e in events.Scalars("dynamics/gravity/z")
    )
    histogram = events.Histograms("dynamics_hist/link_mass/pole")[-1].histogram_value
    assert histogram.num > 0
    assert 0.5 * nominal_pole <= histogram.min <= histogram.max <= 3.0 * nominal_pole
    # CartPole pays +1 per step alive: the term's episode sum is the episode length.
    assert all(1 <= e.value <= 500 for e in events.Scalars("reward_terms/alive"))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_tensorboard_server_serves_eval_and_gap_tags(ppo_run, tmp_path):
    _, run = ppo_run
    port = free_port()
    tensorboard = Path(sys.executable).with_name("tensorboard")
    server = subprocess.Popen(
        [str(tensorboard), "--logdir", str(run.tb_dir), "--port", str(port), "--host", "127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}/data/plugin/scalars/tags"
        deadline, tags = time.monotonic() + 60, {}
        while time.monotonic() < deadline and not any(tags.values()):
            assert server.poll() is None, "tensorboard exited"
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    tags = json.loads(response.read())
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.5)
        assert tags, "tensorboard did not serve scalar tags within 60 s"
        served = {tag for run_tags in tags.values() for tag in run_tags}
        for tag in ("eval/nominal/mean_return", "eval/dr/mean_return", "eval/heavy/mean_return"):
            assert tag in served
        assert {"gap/heavy", "gap/dr", "reward_terms/alive", "dynamics/link_mass/pole"} <= served
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


# -- bad input ----------------------------------------------------------------------------------

BAD = [
    ("unknown-field", {}, ["--set", "n_env=3"], "field 'n_env' = 3; not a known field"),
    (
        "missing-target",
        {"targets": ["targets/nope.yaml"]},
        [],
        "no target file 'targets/nope.yaml'",
    ),
    (
        "bad-value",
        {},
        ["--set", "algorithm.hyperparams.gamma=2"],
        "field 'algorithm.hyperparams.gamma'",
    ),
    ("bad-seed", {}, ["--seed", "-1"], "error: --seed = -1; must be >= 0"),
]


@pytest.mark.parametrize(("label", "changes", "args", "expected"), BAD, ids=[b[0] for b in BAD])
def test_bad_configs_exit_2_with_one_line_and_leave_nothing(
    tmp_path, monkeypatch, capsys, label, changes, args, expected
):
    monkeypatch.chdir(tmp_path)  # the CLI in this process; the next tests run it as a command
    config = write_config(tmp_path, tiny_ppo(**changes))
    assert main(["train", str(config), "--run-dir", "out", "--no-progress", *args]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sim2real train: error: "), captured.err
    assert expected in lines[0]
    assert captured.out == ""
    assert not (tmp_path / "out").exists() and not (tmp_path / "runs").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_cuda_without_gpu_is_a_user_error(tmp_path):
    config = write_config(tmp_path, tiny_ppo(device="cuda"))
    result = run_train([str(config)], cwd=tmp_path)
    lines = error_lines(result.stderr)
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert "field 'device' = 'cuda'; no CUDA GPU" in lines[0]
    assert not (tmp_path / "runs").exists()


def test_existing_run_dir_is_refused_without_overwrite(tmp_path):
    config = write_config(tmp_path, tiny_ppo())
    run_dir = tmp_path / "runs" / "tiny-seed0"  # the default run directory
    run_dir.mkdir(parents=True)
    (run_dir / "run.json").write_text('{"status": "finished"}')
    result = run_train([str(config)], cwd=tmp_path)
    assert result.returncode == 2
    assert "already exists; pass --overwrite" in error_lines(result.stderr)[0]
    assert sorted(p.name for p in run_dir.iterdir()) == ["run.json"]  # untouched
    assert f"sim2real train --resume {run_dir.relative_to(tmp_path)}" in result.stderr


@pytest.mark.parametrize("given", [["--seed", "0"], ["--set", "seed=1"], ["--overwrite"]])
def test_resume_refuses_what_it_would_ignore(tmp_path, capsys, given):
    """A resumed run keeps its config: --seed 0 counts as given, as any other value."""
    assert main(["train", "--resume", str(tmp_path), *given]) == 2
    err = capsys.readouterr().err
    assert "a resumed run keeps its own config and directory; drop " + given[0] in err


@pytest.mark.parametrize("buffered", [False, True], ids=["line-by-line", "buffered"])
def test_a_reader_that_leaves_silences_the_output_not_the_run(tmp_path, buffered):
    """``sim2real train ... | head -1``: the run still finishes, with its summary, exit code 0.
    A print into the closed pipe used to end it as failed; and what is still buffered when the
    verb returns must not fail the exit either."""
    config = write_config(tmp_path, tiny_ppo(evaluation={"freq_steps": 512, "episodes": 2}))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    if not buffered:
        env["PYTHONUNBUFFERED"] = "1"  # each line reaches the pipe as it is printed
    process = subprocess.Popen(
        [SIM2REAL, "train", str(config), "--run-dir", "run", "--no-progress"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    if not buffered:
        assert process.stdout.readline().startswith("training PPO")
    process.stdout.close()  # the reader leaves
    _, err = process.communicate(timeout=240)
    meta = json.loads((tmp_path / "run" / "run.json").read_text())
    assert process.returncode == 0, err
    assert "BrokenPipe" not in err
    assert meta["status"] == "finished"
    assert meta["warnings"] == []
    assert (tmp_path / "run" / "summary.json").is_file()


# -- signals and resume --------------------------------------------------------------------------


def test_sigint_saves_a_checkpoint_and_resume_continues_everything(tmp_path):
    total = 8192
    config = write_config(
        tmp_path,
        tiny_ppo(
            total_timesteps=total,
            evaluation={"freq_steps": 4096, "episodes": 2},
            checkpoint={"freq_steps": 1024, "keep": 3},
            vec_env="subproc",  # the env workers get the Ctrl-C too and must not die first
        ),
    )
    run_dir = tmp_path / "run"
    process = start_train([str(config), "--run-dir", str(run_dir)], cwd=tmp_path)
    wait_for_checkpoint(process, run_dir)
    code, _, err = stop(process, signal.SIGINT, group=True)
    assert code == 130, err
    assert "Traceback" not in err
    run = Run.open(run_dir)
    meta = run.meta
    assert (meta["status"], meta["interrupted_by"]) == ("interrupted", "SIGINT")
    stopped_at = meta["timesteps"]
    assert 0 < stopped_at < total
    assert run.latest_checkpoint().name == f"step_{stopped_at:09d}"  # the final checkpoint
    assert (run.latest_checkpoint() / "normalization.npz").is_file()
    assert run.model_path.is_file()

    result = run_train(["--resume", str(run_dir)], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    meta = run.meta
    assert meta["status"] == "finished" and meta["interrupted_by"] is None
    assert total <= meta["timesteps"] < total + 512
    assert [r["timesteps"] for r in meta["resumes"]] == [stopped_at]
    history = run.evaluations()
    assert history["timesteps"] == sorted(set(history["timesteps"]))
    assert history["timesteps"][-1] == meta["timesteps"]

    # TensorBoard: same directory, one more event file, curves continue without restarting.
    assert [p for p in run.tb_dir.iterdir() if p.is_dir()] == []
    first, resumed = event_files(run.tb_dir)
    assert scalars(resumed, "train/learning_rate")[0][0] > stopped_at
    schedule = scalars(run.tb_dir, "train/learning_rate")
    steps = [step for step, _ in schedule]
    assert steps == sorted(set(steps))
    for step, value in schedule:  # lin_1e-3, progress from the ORIGINAL total (one rollout late)
        assert 1e-3 * (1 - step / total) <= value + 1e-9 <= 1e-3 * (1 - (step - 512) / total) + 2e-9
    eval_steps = [step for step, _ in scalars(run.tb_dir, "eval/nominal/mean_return")]
    assert eval_steps == history["timesteps"]


def test_sigterm_off_policy_keeps_the_replay_buffer_across_resume(tmp_path):
    config = write_config(tmp_path, tiny_sac(total_timesteps=1500))
    run_dir = tmp_path / "run"
    process = start_train([str(config), "--run-dir", str(run_dir)], cwd=tmp_path)
    wait_for_checkpoint(process, run_dir)
    code, _, err = stop(process, signal.SIGTERM)
    assert code == 143, err
    run = Run.open(run_dir)
    assert (run.meta["status"], run.meta["interrupted_by"]) == ("interrupted", "SIGTERM")
    stopped_at = run.meta["timesteps"]
    periodic = run.checkpoints()[0]  # taken after SB3 stored the round's transitions
    assert periodic.timesteps < stopped_at
    buffer = load_from_pkl(periodic.path / "replay_buffer.pkl")
    assert buffer.size() == periodic.timesteps  # one env: one transition per timestep
    # The stop request arrives in a callback, before SB3 stores that step's transition.
    buffer = load_from_pkl(run.latest_checkpoint() / "replay_buffer.pkl")
    assert buffer.size() == stopped_at - 1

    result = run_train(["--resume", str(run_dir)], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    meta = run.meta
    # Collection goes in rounds of train_freq = 4 steps from wherever the stop left it.
    assert meta["status"] == "finished" and 1500 <= meta["timesteps"] < 1504
    last = run.checkpoints()[-1]
    # Restarted empty, the buffer would hold only the transitions since the resume.
    assert load_from_pkl(last.path / "replay_buffer.pkl").size() == last.timesteps - 1
    assert run.summary()["timesteps"] == meta["timesteps"]


def test_sigkill_loses_at_most_one_checkpoint_interval(tmp_path):
    total, interval = 12288, 1024
    config = write_config(
        tmp_path,
        tiny_ppo(
            total_timesteps=total,
            evaluation={"freq_steps": 4096, "episodes": 2},
            checkpoint={"freq_steps": interval, "keep": 2},
        ),
    )
    run_dir = tmp_path / "run"
    process = start_train([str(config), "--run-dir", str(run_dir)], cwd=tmp_path)
    wait_for_checkpoint(process, run_dir)
    time.sleep(1.0)  # kill somewhere between checkpoints
    code, _, _ = stop(process, signal.SIGKILL)
    assert code == -signal.SIGKILL
    run = Run.open(run_dir)
    assert run.meta["status"] == "running"  # it never got to say anything else
    checkpoints = [c.timesteps for c in run.checkpoints()]
    checkpoint = checkpoints[-1]
    # run.json is updated right after a checkpoint lands; a kill in between leaves it one
    # checkpoint behind (resume reads the checkpoints themselves, never this count).
    previous = checkpoints[-2] if len(checkpoints) > 1 else 0
    assert run.meta["timesteps"] in (previous, checkpoint)
    (killed_events,) = event_files(run.tb_dir)
    reached = max(step for step, _ in scalars(killed_events, "time/fps"))
    assert reached - checkpoint <= interval  # logged progress lost: at most one interval
    staging = run.checkpoints_dir / ".staging-step_999999999-1"  # as if killed mid-save
    staging.mkdir()
    (staging / "model.zip").write_bytes(b"half a zip")

    result = run_train(["--resume", str(run_dir)], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"from step_{checkpoint:09d}" in result.stdout
    assert not staging.exists()
    meta = run.meta
    assert meta["status"] == "finished" and total <= meta["timesteps"] < total + 512
    resumed = event_files(run.tb_dir)[-1]
    assert min(step for step, _ in scalars(resumed, "time/fps")) >= checkpoint
    assert run.evaluations()["timesteps"] == sorted(set(run.evaluations()["timesteps"]))
    # Steps the killed process logged after the checkpoint are purged from the curves.
    fps_steps = [step for step, _ in scalars(run.tb_dir, "time/fps")]
    assert fps_steps == sorted(set(fps_steps))
