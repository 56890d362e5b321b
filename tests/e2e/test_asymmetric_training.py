"""An asymmetric actor-critic from the config: trained on privileged envs, exported and
evaluated on envs without them; misconfigurations are one line."""

from __future__ import annotations

import numpy as np
import pytest
from tiny import tiny_ppo  # tests/e2e/tiny.py: the shared tiny PPO config

from sim2real.cli import main
from sim2real.config import parse_config
from sim2real.errors import UserError
from sim2real.evaluation.conditions import NOMINAL_CONDITION, make_env
from sim2real.evaluation.evaluate import EvaluationSettings, evaluate_runs
from sim2real.policies.asymmetric import AsymmetricActorCriticPolicy, deployable_size
from sim2real.policies.contract import read_contract
from sim2real.policies.export import export_run
from sim2real.policies.predictor import RunPolicy, load_predictor
from sim2real.training import train

pytestmark = pytest.mark.slow
ENV_ID = "sim2real/CartPole-v0"
NO_EVAL = {"evaluation": {"freq_steps": 0, "episodes": 1}, "checkpoint": {"freq_steps": 0}}


def asymmetric_config(**changes) -> dict:
    config = tiny_ppo(
        name="tiny_asymmetric",
        total_timesteps=512,
        env={"id": ENV_ID, "kwargs": {"privileged": True}},
        **NO_EVAL,
    )
    config["algorithm"] = {**config["algorithm"], "asymmetric": True}
    config.update(changes)
    return config


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    return train(
        parse_config(asymmetric_config()), root / "run", progress_bar=False, verbose=False
    ).path


def test_training_uses_the_asymmetric_policy_on_privileged_observations(run):
    policy = RunPolicy.from_run(run)
    deployable = len(make_env(ENV_ID, NOMINAL_CONDITION).unwrapped.observation_names)
    assert isinstance(policy.model.policy, AsymmetricActorCriticPolicy)
    assert deployable_size(policy.model) == deployable
    assert policy.observation_space.shape[0] > deployable  # the critic's privileged entries
    # The final evaluation ran on nominal dynamics and the target, whose envs have no spec of
    # their own: their privileged entries keep the training layout.
    assert (run / "summary.json").is_file()


@pytest.mark.parametrize("format", ["onnx", "bundle"])
def test_the_export_reads_the_deployable_observation_and_passes_parity(run, format, tmp_path):
    result = export_run(run, tmp_path / format, format=format)
    contract = read_contract(result.path)
    plain = make_env(ENV_ID, NOMINAL_CONDITION)
    try:
        assert contract.data["observation"]["names"] == list(plain.unwrapped.observation_names)
        assert contract.data["observation"]["privileged"] == []
        assert "privileged" not in contract.data["env_kwargs"]
        assert result.parity.max_abs_diff <= 1e-5
        exported = load_predictor(result.path)
        observation, _ = plain.reset(seed=0)
        action = exported.predict(observation)
        assert action.shape == plain.action_space.shape
        plain.step(action)
    finally:
        plain.close()


@pytest.mark.parametrize("exported", [True, False])
def test_the_run_and_its_export_are_evaluated_alike(run, exported, tmp_path):
    """The export on envs without privileged entries, the run on the training layout."""
    path = export_run(run, tmp_path / "export", format="bundle").path if exported else run
    settings = EvaluationSettings(episodes=2, workers=1, n_boot=50)
    (results,) = evaluate_runs([path], settings=settings).results.values()
    assert {"nominal", "heavy"} <= set(results)  # nominal dynamics and the run's target
    returns = [value for result in results.values() for value in result.returns[str(path)]]
    assert len(returns) >= 6 and all(value > 0 for value in returns)


def test_asymmetric_sac_trains_and_exports_its_actor(tmp_path):
    algorithm = {
        "name": "SAC",
        "asymmetric": True,
        "hyperparams": {
            "learning_starts": 64,
            "buffer_size": 1000,
            "batch_size": 32,
            "policy_kwargs": {"net_arch": [16, 16]},
        },
    }
    config = asymmetric_config(
        name="tiny_asymmetric_sac",
        algorithm=algorithm,
        n_envs=1,
        normalize={"observations": False, "rewards": False},
        total_timesteps=128,
    )
    run = train(parse_config(config), tmp_path / "sac", progress_bar=False, verbose=False).path
    assert deployable_size(RunPolicy.from_run(run).model) == 4
    result = export_run(run, tmp_path / "export", format="onnx")
    assert read_contract(result.path).observation_dim == 4
    assert result.parity.max_abs_diff <= 1e-5


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"env": {"id": ENV_ID}},
            "field 'algorithm.asymmetric' = True; the critic needs privileged",
        ),
        (
            {"algorithm": {"name": "TD3", "asymmetric": True}},
            "an asymmetric actor-critic is an MlpPolicy of PPO, A2C, SAC; not MlpPolicy of TD3",
        ),
    ],
)
def test_misconfigured_asymmetry_is_one_line(changes, message):
    with pytest.raises(UserError) as error:
        parse_config(asymmetric_config(**changes))
    assert message in str(error.value) and "\n" not in str(error.value)


def test_a_zoo_entry_of_an_asymmetric_run_acts_as_the_run(run, tmp_path):
    import sim2real.policies.zoo as zoo

    settings = EvaluationSettings(episodes=1, workers=1)
    entry = zoo.add_entry(run, "asymmetric", settings=settings, zoo_dir=tmp_path)
    reference, rebuilt = RunPolicy.from_run(run), load_predictor(entry.path)
    observations = [rebuilt.observation_space.sample() for _ in range(16)]
    for observation in observations:
        assert (rebuilt.predict(observation) == reference.predict(observation)).all()
    assert entry.card["parity"]["max_abs_diff"] == 0.0


def test_record_logs_what_the_actor_reads_as_its_export_does(run, tmp_path):
    """The file holds the measured observations only, and the run acts on them exactly as its
    export (the actor on the deployable entries) does."""
    from sim2real.data import load_data

    exported = export_run(run, tmp_path / "export", format="bundle").path
    files = {}
    for name, policy in (("run", run), ("export", exported)):
        files[name] = tmp_path / f"{name}.npz"
        argv = ["record", str(policy), "--env", ENV_ID, "--target", "cartpole_heavy.yaml"]
        assert main([*argv, "--episodes", "2", "--out", str(files[name])]) == 0
    recorded, deployed = load_data(files["run"]), load_data(files["export"])
    names = make_env(ENV_ID, NOMINAL_CONDITION).unwrapped.observation_names
    assert recorded.observation_names == tuple(names)
    assert recorded.observations.shape[1] == len(names)
    # The export computes in float32 numpy, the run in torch: export parity's tolerance.
    np.testing.assert_allclose(recorded.actions, deployed.actions, atol=1e-5)
    np.testing.assert_allclose(recorded.observations, deployed.observations, atol=1e-4)


def test_record_refuses_an_actor_that_reads_privileged_observations(tmp_path, capsys):
    """A data file holds what a robot measures; this actor also reads the dynamics."""
    config = asymmetric_config()
    config["algorithm"] = {**config["algorithm"], "asymmetric": False}
    path = train(parse_config(config), tmp_path / "run", progress_bar=False, verbose=False).path
    argv = ["record", str(path), "--env", ENV_ID, "--target", "cartpole_heavy.yaml"]
    assert main([*argv, "--episodes", "1", "--out", str(tmp_path / "d.npz")]) == 2
    err = capsys.readouterr().err
    assert "its actor reads privileged observations" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "d.npz").exists()
