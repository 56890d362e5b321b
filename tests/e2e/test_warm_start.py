"""``init_from:``: a run that starts from another run's policy (a curriculum of configs)."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from tiny import tiny_ppo  # tests/e2e/tiny.py: the shared tiny PPO config

from sim2real.cli import main
from sim2real.config import parse_config
from sim2real.errors import UserError
from sim2real.policies.normalization import load_normalization
from sim2real.runs import Run
from sim2real.training import build_model, make_training_env, train
from sim2real.warm_start import load_initial_policy

pytestmark = pytest.mark.slow

FIRST_STEPS = 1024  # two rollouts: the linear schedule's rate is 0 at the last update


@pytest.fixture(scope="module")
def nominal_run(tmp_path_factory) -> Run:
    """The first stage: no DR."""
    config = tiny_ppo(randomization=None, total_timesteps=FIRST_STEPS)
    config["checkpoint"] = {"freq_steps": 0}
    path = tmp_path_factory.mktemp("warm") / "nominal"
    return train(parse_config(config), path, progress_bar=False, verbose=False)


def second_stage(nominal_run: Run, **changes) -> dict:
    config = tiny_ppo(init_from=str(nominal_run.path), total_timesteps=FIRST_STEPS, seed=1)
    config.update(changes)
    config["checkpoint"] = {"freq_steps": 0}
    return config


def policy_arrays(run: Run) -> dict[str, np.ndarray]:
    return {k: v.numpy().copy() for k, v in run.load_model().policy.state_dict().items()}


def test_the_policy_and_statistics_are_the_first_runs(nominal_run):
    config = parse_config(second_stage(nominal_run))
    venv = make_training_env(config)
    try:
        model = build_model(config, venv, "cpu", "<test>")
        first = policy_arrays(nominal_run)
        fresh = {k: v.numpy().copy() for k, v in model.policy.state_dict().items()}
        assert any(not np.array_equal(fresh[name], first[name]) for name in first)
        record = load_initial_policy(config, model, venv, "<test>")
        for name, tensor in model.policy.state_dict().items():
            np.testing.assert_array_equal(tensor.numpy(), first[name])
        statistics = load_normalization(nominal_run.normalization_path)
        np.testing.assert_array_equal(venv.obs_rms.mean, statistics.obs_mean)
        assert venv.obs_rms.count == statistics.obs_count
    finally:
        venv.close()
    assert record == {
        "run": str(nominal_run.path),
        "model": str(nominal_run.model_path),
        "timesteps": FIRST_STEPS,
    }


def test_a_trained_second_stage_moves_on_from_the_first(nominal_run, tmp_path):
    run = train(
        parse_config(second_stage(nominal_run)),
        tmp_path / "dr",
        progress_bar=False,
        verbose=False,
    )
    assert run.meta["status"] == "finished" and run.meta["timesteps"] == FIRST_STEPS
    assert run.meta["init_from"]["run"] == str(nominal_run.path)
    # The observation statistics went on from the first run's count.
    before = load_normalization(nominal_run.normalization_path).obs_count
    assert load_normalization(run.normalization_path).obs_count >= before + FIRST_STEPS
    first, second = policy_arrays(nominal_run), policy_arrays(run)
    assert any(not np.array_equal(first[name], second[name]) for name in first)


def test_the_config_records_an_absolute_path(nominal_run, monkeypatch):
    monkeypatch.chdir(nominal_run.path.parent)
    config = parse_config(tiny_ppo(init_from="nominal"))
    assert config.init_from == str(nominal_run.path)
    assert parse_config(tiny_ppo(init_from="zoo:cartpole_dr")).init_from == "zoo:cartpole_dr"


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"init_from": "missing"}, "missing: not a run directory"),
        (
            {"algorithm": {"name": "A2C", "hyperparams": {"n_steps": 8}}},
            "a PPO run; this config trains A2C",
        ),
        (
            {"env": {"id": "sim2real/Hopper-v0"}, "randomization": None, "targets": []},
            "its observation space is Box",
        ),
        (
            {"algorithm": {"name": "PPO", "hyperparams": {"policy_kwargs": {"net_arch": [8]}}}},
            "another network",
        ),
        ({"normalize": {"observations": False}}, "normalize.observations is True there"),
    ],
)
def test_a_bad_start_is_one_line_before_any_run_directory(
    nominal_run, tmp_path, capsys, changes, expected
):
    config = second_stage(nominal_run)
    config.update(changes)
    if "init_from" in changes:
        config["init_from"] = str(tmp_path / changes["init_from"])
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    run_dir = tmp_path / "run"
    assert main(["train", str(path), "--run-dir", str(run_dir), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "field 'init_from'" in err and expected in err, err
    assert not run_dir.exists()


def test_adaptation_configs_refuse_it():
    config = tiny_ppo(init_from="zoo:cartpole_dr")
    config["adaptation"] = {"latent_size": 2, "history_steps": 3}
    with pytest.raises(UserError, match="field 'init_from' = 'zoo:cartpole_dr'; an adaptation"):
        parse_config(config, source="rma.yaml")


def test_a_transfer_from_a_second_stage_trains_a_plain_policy(nominal_run, tmp_path):
    from sim2real.transfer import transfer

    source = train(
        parse_config(second_stage(nominal_run)), tmp_path / "dr", progress_bar=False, verbose=False
    )
    oracle = transfer(
        source, source.config.targets[0], 512, "scratch", run_dir=tmp_path / "oracle",
        progress_bar=False, verbose=False,
    )  # fmt: skip
    assert oracle.config.init_from is None and "init_from" not in oracle.meta
