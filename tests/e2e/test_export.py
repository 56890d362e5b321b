"""``sim2real export`` (ONNX, TorchScript, bundle) with its contract and parity check, exports
evaluated like runs, and ``sim2real enjoy`` writing a video; bad input is one line."""

from __future__ import annotations

import json
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
from tiny import assert_acts_alike, tiny_ppo  # tests/e2e/tiny.py: shared helpers

from sim2real.cli import main
from sim2real.config import parse_config
from sim2real.errors import RunError
from sim2real.evaluation.conditions import NOMINAL_CONDITION, make_env
from sim2real.evaluation.evaluate import EvaluationSettings, evaluate_runs
from sim2real.policies.contract import read_contract
from sim2real.policies.export import export_run
from sim2real.policies.graph import DeployedPolicy
from sim2real.policies.parity import collect_observations
from sim2real.policies.predictor import RunPolicy, load_predictor
from sim2real.training import train

pytestmark = pytest.mark.slow
ENV_ID = "sim2real/CartPole-v0"
NO_EVAL = {"evaluation": {"freq_steps": 0, "episodes": 1}, "checkpoint": {"freq_steps": 0}}


def sac_config() -> dict:
    algorithm = {
        "name": "SAC",
        "hyperparams": {
            "learning_starts": 64,
            "buffer_size": 1000,
            "batch_size": 32,
            "policy_kwargs": {"net_arch": [16, 16]},
        },
    }
    return tiny_ppo(
        name="tiny_sac",
        algorithm=algorithm,
        n_envs=1,
        normalize={"observations": False, "rewards": False},
        total_timesteps=128,
        **NO_EVAL,
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A tiny PPO run with observation normalization and a tiny SAC run, on DR CartPole."""
    root = tmp_path_factory.mktemp("runs")
    configs = {"ppo": tiny_ppo(total_timesteps=512, **NO_EVAL), "sac": sac_config()}
    return {
        name: train(parse_config(config), root / name, progress_bar=False, verbose=False).path
        for name, config in configs.items()
    }


@pytest.fixture(scope="module")
def ppo_onnx(runs, tmp_path_factory):
    return export_run(runs["ppo"], tmp_path_factory.mktemp("exports") / "ppo_onnx", "onnx").path


def env_observations(run_dir, steps: int = 128) -> np.ndarray:
    env = make_env(ENV_ID, NOMINAL_CONDITION)
    try:
        return collect_observations(env, RunPolicy.from_run(run_dir), steps=steps, seed=7)
    finally:
        env.close()


def one_line_error(capsys, argv, expected, code=2):
    assert main(argv) == code
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    assert expected in err, err


def test_ppo_onnx_takes_raw_observations_and_matches_predict(runs, ppo_onnx):
    import onnxruntime

    contract = read_contract(ppo_onnx)
    assert contract.data["parity"]["max_abs_diff"] <= 1e-5
    assert contract.data["onnx_opset"] >= 17
    observations = env_observations(runs["ppo"])
    reference = RunPolicy.from_run(runs["ppo"])
    session = onnxruntime.InferenceSession(str(ppo_onnx / "policy.onnx"))
    (actions,) = session.run(None, {"observation": observations})
    np.testing.assert_allclose(actions, reference.predict(observations), atol=1e-5, rtol=0)
    # Normalization is in the graph: the bare model on raw observations acts otherwise.
    unnormalized, _ = reference.model.predict(observations, deterministic=True)
    assert np.abs(unnormalized - actions).max() > 1e-3
    # And so is the clipping SB3 does in predict, outside its policy network.
    (far,) = session.run(None, {"observation": np.full((4, 4), 1e3, np.float32)})
    assert np.all(np.abs(far) <= 1.0)


@pytest.mark.parametrize("name", ["ppo", "sac"])
def test_torchscript_and_sac_exports_pass_parity(runs, name, tmp_path):
    formats = ["torchscript", "onnx"] if name == "sac" else ["torchscript"]
    observations = env_observations(runs[name], steps=64)
    reference = RunPolicy.from_run(runs[name]).predict(observations)
    for format in formats:
        result = export_run(runs[name], tmp_path / format, format)
        assert result.parity.max_abs_diff <= 1e-5
        exported = load_predictor(result.path)
        np.testing.assert_allclose(exported.predict(observations), reference, atol=1e-5, rtol=0)
        np.testing.assert_allclose(exported.predict(observations[0]), reference[0], atol=1e-5)
    if name == "sac":  # tanh-squashed, rescaled to the bounds inside the graph
        assert "tanh" in read_contract(tmp_path / "onnx").data["in_graph"]["action"]


def test_contract_states_the_interface_training_and_versions(runs, ppo_onnx):
    data = json.loads((ppo_onnx / "contract.json").read_text())
    assert data["env_id"] == ENV_ID and data["algorithm"] == "PPO"
    assert data["observation"]["names"] == [
        "cart_position",
        "cart_velocity",
        "pole_angle",
        "pole_angular_velocity",
    ]
    assert data["observation"]["units"] == ["m", "m/s", "rad", "rad/s"]
    assert data["action"]["names"] == ["force"]
    assert data["action"]["low"] == [-1.0] and data["action"]["high"] == [1.0]
    assert data["action"]["meaning"] == {
        "kind": "torque",
        "law": "effort = torque_scale * motor_strength * action (motor_strength 1 nominal)",
        "torque_scale": [10.0],
        "units": ["N"],
    }
    assert data["control"]["period_s"] == 0.02
    assert data["in_graph"]["observation_normalization"]
    assert data["inputs"][0]["name"] == "observation" and data["outputs"][0]["name"] == "action"
    config = data["training"]["config"]
    assert config["randomization"]["terms"] and config["normalize"]["observations"]
    assert config["targets"] == ["targets/heavy.yaml"]
    assert (ppo_onnx / "targets" / "heavy.yaml").is_file()
    assert data["source"]["run"] == str(runs["ppo"].resolve())
    for package in ("torch", "onnx", "onnxruntime", "stable-baselines3", "sim2real"):
        assert data["versions"][package], package
    assert data["parity"]["observations"] == 256 and data["parity"]["tolerance"] == 1e-5


def test_a1_contract_gives_pd_gains_default_pose_and_joint_order():
    from sim2real.policies.contract import env_interface

    env = gym.make("sim2real/A1-v0")
    try:
        interface = env_interface(env)
    finally:
        env.close()
    meaning = interface["action"]["meaning"]
    assert meaning["kind"] == "pd_position"
    assert meaning["kp"] == [20.0] * 12 and meaning["kd"] == [0.5] * 12
    assert meaning["action_scale"] == 0.25 and len(meaning["default_pose"]) == 12
    assert interface["action"]["names"][:3] == ["FR_hip_joint", "FR_upper_joint", "FR_lower_joint"]
    assert interface["control"]["period_s"] == 0.02
    assert interface["control"]["physics_steps_per_action"] == 4


def test_a_mismatch_fails_the_export_with_the_numbers_and_writes_nothing(
    runs, tmp_path, monkeypatch, capsys
):
    forward = DeployedPolicy.forward
    monkeypatch.setattr(DeployedPolicy, "forward", lambda self, obs: forward(self, obs) * 0.5)
    out = tmp_path / "exports" / "bad"
    with pytest.raises(RunError, match=r"parity check failed: the torchscript export differs"):
        export_run(runs["ppo"], out, "torchscript")
    argv = ["export", str(runs["ppo"]), "--format", "torchscript", "--out", str(out)]
    one_line_error(capsys, argv, "(tolerance 1e-05) on 256 observations", code=1)
    assert list((tmp_path / "exports").iterdir()) == []  # no export, no staging directory


def test_evaluate_takes_an_export_like_its_run(runs, ppo_onnx):
    settings = EvaluationSettings(episodes=2, workers=1, n_boot=50)
    evaluation = evaluate_runs([runs["ppo"], ppo_onnx], settings=settings)
    assert evaluation.targets == ["heavy"]
    for condition in ("nominal", "dr", "heavy"):
        returns = evaluation.results["tiny"][condition].returns
        assert returns[str(ppo_onnx)] == returns[str(runs["ppo"].resolve())], condition


def test_enjoy_prints_episodes_and_writes_a_gif(ppo_onnx, tmp_path, capsys):
    import imageio.v3 as iio

    video = tmp_path / "videos" / "cartpole.gif"
    argv = ["enjoy", str(ppo_onnx), "--episodes", "2", "--target", "cartpole_heavy.yaml"]
    assert main([*argv, "--video", str(video)]) == 0
    out = capsys.readouterr().out.splitlines()
    episodes = [line for line in out if line.startswith("episode ")]
    assert len(episodes) == 2 and all("return" in line and "length" in line for line in episodes)
    assert '"link_mass"' in episodes[0]  # the heavy target's dynamics
    frames = iio.imread(video, index=None)
    assert frames.ndim == 4 and frames.shape[1:] == (240, 320, 3) and len(frames) > 2


def test_bad_input_is_one_line(runs, ppo_onnx, tmp_path, capsys, monkeypatch):
    one_line_error(
        capsys, ["enjoy", str(ppo_onnx), "--video", str(tmp_path / "x.avi")], "give a .gif or .mp4"
    )
    one_line_error(
        capsys,
        ["enjoy", str(ppo_onnx), "--env", "sim2real/Hopper-v0"],
        "policy observation shape (4,) does not match sim2real/Hopper-v0 observation shape (15,)",
    )
    one_line_error(capsys, ["enjoy", str(ppo_onnx), "--env", "CartPole-v1"], "is not registered")
    one_line_error(capsys, ["export", str(runs["ppo"]), "--out", str(ppo_onnx)], "already exists")
    one_line_error(
        capsys,
        ["transfer", str(ppo_onnx), "--target", "cartpole_heavy.yaml", "--budget", "64"],
        "an exported policy cannot be fine-tuned",
    )
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / "contract.json").write_text("{not json")
    one_line_error(capsys, ["evaluate", str(damaged)], "cannot read JSON")
    with monkeypatch.context() as patch:
        patch.setitem(sys.modules, "onnxruntime", None)  # as if not installed
        argv = ["export", str(runs["ppo"]), "--format", "onnx", "--out", str(tmp_path / "o")]
        one_line_error(capsys, argv, "pip install 'sim2real[export]'")
        patch.setitem(sys.modules, "imageio_ffmpeg", None)
        argv = ["enjoy", str(ppo_onnx), "--video", str(tmp_path / "v.mp4")]
        one_line_error(capsys, argv, "needs imageio-ffmpeg")
    assert not (tmp_path / "o").exists() and not (tmp_path / "v.mp4").exists()


@pytest.fixture(scope="module")
def recurrent_run(tmp_path_factory):
    """A tiny RecurrentPPO run with observation normalization on DR CartPole."""
    algorithm = {
        "name": "RecurrentPPO",
        "hyperparams": {
            "n_steps": 64,
            "batch_size": 64,
            "n_epochs": 1,
            "policy_kwargs": {"lstm_hidden_size": 8, "net_arch": [16]},
        },
    }
    config = tiny_ppo(name="tiny_lstm", algorithm=algorithm, total_timesteps=256, **NO_EVAL)
    root = tmp_path_factory.mktemp("recurrent")
    return train(parse_config(config), root / "run", progress_bar=False, verbose=False).path


@pytest.mark.parametrize("format", ["torchscript", "onnx"])
def test_a_recurrent_policy_exports_its_state_as_graph_inputs(recurrent_run, format, tmp_path):
    result = export_run(recurrent_run, tmp_path / format, format)
    contract = read_contract(result.path).data
    names = [item["name"] for item in contract["inputs"]]
    assert names == ["observation", "lstm_h", "lstm_c", "episode_start"]
    assert [item["name"] for item in contract["outputs"]] == ["action", "lstm_h_out", "lstm_c_out"]
    assert contract["recurrent"]["layers"] == 1 and contract["recurrent"]["hidden"] == 8
    # Parity ran step by step along the run's own episodes, the state carried and reset.
    assert contract["parity"]["observations"] == 256
    assert contract["parity"]["max_abs_diff"] <= 1e-5
    # Carried state matters: the same observation gives another action once the state moved.
    exported, reference = load_predictor(result.path), RunPolicy.from_run(recurrent_run)
    assert_acts_alike(exported, reference, make_env(ENV_ID, NOMINAL_CONDITION), 20, seed=3)


def test_the_recurrent_graph_zeroes_the_state_at_episode_start(recurrent_run):
    import torch

    from sim2real.policies.graph import deployed_policy

    policy = RunPolicy.from_run(recurrent_run)
    graph = deployed_policy(policy.model, policy.normalization)
    observation, h, c, start = graph.example_inputs(batch=3)
    observation = torch.randn_like(observation)
    noisy = torch.randn_like(h)
    with torch.no_grad():
        fresh = graph(observation, h, c, start)[0]
        restarted = graph(observation, noisy, noisy.clone(), start)[0]
        carried = graph(observation, noisy, noisy.clone(), torch.zeros_like(start))[0]
    torch.testing.assert_close(restarted, fresh)
    assert not torch.allclose(carried, fresh)


def test_the_core_imports_without_the_optional_extras():
    blocked = ["onnx", "onnxruntime", "onnxscript", "imageio", "imageio_ffmpeg", "ray", "optuna"]
    code = (
        f"import sys; sys.modules.update(dict.fromkeys({blocked!r}));"
        "import sim2real, sim2real.cli; sim2real.cli.build_parser();"
        "import sim2real.policies.exported, sim2real.video, sim2real.enjoy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
