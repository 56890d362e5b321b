"""Faults a run survives: logging and evaluation that fail (the model is kept and run.json
says what happened), a failure in learning, physics blow-ups (counted), an unreadable latest
checkpoint (resume falls back)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tiny import tiny_ppo  # tests/e2e/tiny.py: the shared tiny PPO config
from torch.utils.tensorboard import SummaryWriter

from sim2real.callbacks.episodes import DynamicsLogCallback
from sim2real.config import parse_config
from sim2real.errors import RunError, UserError
from sim2real.runs import Run
from sim2real.training import train

pytestmark = pytest.mark.slow


def tiny(**changes):
    """Two rollouts of 2 x 128 steps, no targets, no periodic evaluation: a run in seconds."""
    config = tiny_ppo(
        targets=[],
        total_timesteps=512,
        evaluation={"freq_steps": 0, "episodes": 1},
        checkpoint={"freq_steps": 0, "keep": 3},
    )
    config["algorithm"]["hyperparams"].update(n_steps=128, batch_size=128)
    config.update(changes)
    return parse_config(config, source="tiny")


def quiet_train(config, run_dir, **kwargs):
    return train(config, run_dir, progress_bar=False, verbose=False, **kwargs)


# -- logging and evaluation never lose the model ------------------------------------------------


def _histogram_fails(monkeypatch):
    def fail(self, tag, *args, **kwargs):
        raise ValueError("The histogram is empty, please file a bug report.")

    monkeypatch.setattr(SummaryWriter, "add_histogram", fail)
    return "TensorBoard add_histogram"


def _evaluation_fails(monkeypatch):
    def fail(*args, **kwargs):
        raise RuntimeError("physics server crashed")

    monkeypatch.setattr("sim2real.callbacks.evaluation.evaluate_conditions", fail)
    return "the final evaluation failed"


@pytest.mark.parametrize("inject", [_histogram_fails, _evaluation_fails])
def test_a_failing_log_or_evaluation_keeps_the_model(tmp_path, monkeypatch, inject):
    expected = inject(monkeypatch)
    with pytest.warns(RuntimeWarning, match=expected):
        run = quiet_train(tiny(), tmp_path / "run")
    meta = run.meta
    assert meta["status"] == "finished" and meta["timesteps"] == 512
    assert run.model_path.is_file() and run.normalization_path.is_file()
    assert len(meta["warnings"]) == 1 and expected in meta["warnings"][0]
    assert "\n" not in meta["warnings"][0]
    assert run.load_model().num_timesteps == 512


def test_a_failure_in_learning_saves_the_model_and_a_checkpoint(tmp_path, monkeypatch):
    def fail(self):
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    monkeypatch.setattr("stable_baselines3.ppo.ppo.PPO.train", fail)
    with pytest.raises(RuntimeError, match="illegal memory access"):
        quiet_train(tiny(), tmp_path / "run")
    run = Run.open(tmp_path / "run")
    meta = run.meta
    assert meta["status"] == "failed" and meta["timesteps"] == 256  # after the first rollout
    assert meta["error"] == "RuntimeError: CUDA error: an illegal memory access was encountered"
    assert run.model_path.is_file()
    assert [c.timesteps for c in run.checkpoints()] == [256]


def test_diverged_weights_are_not_saved_over_the_checkpoint(tmp_path, monkeypatch):
    def diverge(self):
        for weights in self.policy.parameters():
            weights.data.fill_(float("nan"))
        raise ValueError("Expected parameter loc to satisfy the constraint Real()")

    monkeypatch.setattr("stable_baselines3.ppo.ppo.PPO.train", diverge)
    diverged = pytest.raises(RunError, match="learning diverged at 256 timesteps.*learning rate")
    with pytest.warns(RuntimeWarning, match="not finite"), diverged:  # one line on the CLI
        quiet_train(tiny(), tmp_path / "run")
    run = Run.open(tmp_path / "run")
    assert run.meta["status"] == "failed" and "Real()" in run.meta["error"]
    assert not run.model_path.exists() and run.checkpoints() == []


def test_guarded_writer_drops_a_failing_write_and_reports_the_first(tmp_path):
    from sim2real.tensorboard_log import tensorboard_logger, tensorboard_writer

    reports = []
    logger = tensorboard_logger(tmp_path, on_error=lambda what, error: reports.append(what))
    writer = tensorboard_writer(logger)
    for step in range(3):
        # What a pole mass of 1e30 did to a trained run before: TensorBoard cannot bin it.
        assert writer.add_histogram("h", np.array([1e30, 1e30]), step) is None
        writer.add_scalar("s", float(step), step)
    logger.close()
    assert reports == ["TensorBoard add_histogram('h')"]
    scalars = EventAccumulator(str(tmp_path)).Reload().Scalars("s")
    assert [event.value for event in scalars] == [0.0, 1.0, 2.0]


# -- physics blow-ups are counted -----------------------------------------------------------


def test_non_finite_episodes_are_counted_in_tensorboard_summary_and_checkpoints(
    tmp_path, monkeypatch
):
    from sim2real.envs.base import BulletEnv

    step = BulletEnv.step

    def blow_up_at_step_10(self, action):
        observation, reward, terminated, truncated, info = step(self, action)
        if self._steps == 10:
            return observation, 0.0, True, truncated, {**info, "non_finite": True}
        return observation, reward, terminated, truncated, info

    monkeypatch.setattr(BulletEnv, "step", blow_up_at_step_10)
    config = tiny(checkpoint={"freq_steps": 256, "keep": 3})
    with pytest.warns(RuntimeWarning, match="blew up"):
        run = quiet_train(config, tmp_path / "run")
    summary = json.loads(run.summary_path.read_text())
    counted = summary["non_finite_episodes"]
    assert 40 <= counted <= 2 * 256 // 10  # episodes end at step 10 (or earlier, unmarked)
    scalars = EventAccumulator(str(run.tb_dir)).Reload().Scalars("episodes/non_finite")
    assert scalars[-1].value == counted and scalars[-1].step == 512
    (checkpoint,) = run.checkpoints()[-1:]
    recorded = json.loads((checkpoint.path / "checkpoint.json").read_text())
    assert recorded["non_finite_episodes"] == counted


def test_dynamics_log_counts_only_episode_ends_marked_non_finite():
    callback = DynamicsLogCallback(non_finite_episodes=3)  # a resumed run's count
    end = {"episode_dynamics": {}, "episode_reward_terms": {}}
    callback.locals = {"infos": [end, {**end, "non_finite": True}, {"non_finite": True}]}
    callback._on_step()
    assert callback.non_finite_episodes == 4


# -- an unreadable checkpoint -----------------------------------------------------------------


@pytest.fixture
def killed_run(tmp_path):
    """A run with checkpoints at 256 and 512 whose process was killed (status running)."""
    run = quiet_train(tiny(checkpoint={"freq_steps": 256, "keep": 3}), tmp_path / "run")
    run.update_meta(status="running", timesteps=512)
    run.model_path.unlink()
    run.summary_path.unlink()
    return run


def test_resume_falls_back_from_a_truncated_checkpoint(killed_run):
    latest = killed_run.checkpoints()[-1].path
    model = latest / "model.zip"
    model.write_bytes(model.read_bytes()[:1000])  # the disk filled up mid-write
    with pytest.warns(RuntimeWarning, match="step_000000512 is unreadable .* from step_000000256"):
        quiet_train(None, killed_run.path, resume=True)
    meta = killed_run.meta
    assert meta["status"] == "finished" and meta["timesteps"] == 512
    assert meta["resumes"][-1]["checkpoint"] == "step_000000256"
    assert meta["resumes"][-1]["unreadable"] == ["step_000000512"]
    assert (latest.parent / ".unreadable-step_000000512" / "model.zip").is_file()
    assert [c.timesteps for c in killed_run.checkpoints()] == [256, 512]  # 512 written anew
    assert killed_run.load_model(path=latest / "model.zip").num_timesteps == 512


def test_resume_without_a_loadable_checkpoint_is_one_line(killed_run):
    for checkpoint in killed_run.checkpoints():
        (checkpoint.path / "normalization.npz").unlink()
    with pytest.raises(UserError) as raised:
        quiet_train(None, killed_run.path, resume=True)
    message = str(raised.value)
    assert "no checkpoint loads (step_000000512: UserError" in message
    assert "step_000000256: UserError" in message and "\n" not in message
