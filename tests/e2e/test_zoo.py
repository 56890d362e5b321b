"""The zoo: an entry made from a run holds no pickle, acts as the run did, carries a card
with measured returns, and ``zoo:NAME`` works wherever a run does (evaluate, transfer)."""

from __future__ import annotations

import json
import shlex
import zipfile

import numpy as np
import pytest
from tiny import tiny_ppo  # tests/e2e/tiny.py: the shared tiny PPO config

import sim2real.policies.zoo as zoo
from sim2real.cli import main
from sim2real.config import config_to_dict, load_config, parse_config
from sim2real.errors import UserError
from sim2real.evaluation.conditions import NOMINAL_CONDITION, make_env
from sim2real.evaluation.evaluate import EvaluationSettings, evaluate_runs
from sim2real.policies.parity import collect_observations
from sim2real.policies.predictor import RunPolicy, load_predictor
from sim2real.policies.weights import load_policy_weights
from sim2real.runs import Run
from sim2real.training import train
from sim2real.transfer.finetune import transfer

pytestmark = pytest.mark.slow
NO_EVAL = {"evaluation": {"freq_steps": 0, "episodes": 1}, "checkpoint": {"freq_steps": 0}}
SETTINGS = EvaluationSettings(episodes=2, workers=1)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("zoo-runs")
    config = parse_config(tiny_ppo(total_timesteps=512, **NO_EVAL))
    return train(config, root / "tiny", progress_bar=False, verbose=False).path


@pytest.fixture(scope="module")
def entry(run_dir, tmp_path_factory):
    zoo_dir = tmp_path_factory.mktemp("zoo")
    return zoo.add_entry(run_dir, "tiny_dr", settings=SETTINGS, zoo_dir=zoo_dir)


@pytest.fixture
def shipped(entry, monkeypatch):
    """Make the test's zoo the one ``zoo:NAME`` resolves in."""
    monkeypatch.setattr(zoo, "ZOO_DIR", entry.path.parent)
    return entry


def test_an_entry_holds_arrays_and_yaml_only(entry):
    names = sorted(p.relative_to(entry.path).as_posix() for p in entry.path.rglob("*"))
    assert names == [
        "README.md",
        "card.json",
        "config.yaml",
        "normalization.npz",
        "run.json",
        "targets",
        "targets/cartpole_heavy.yaml",
        "weights.npz",
    ]
    with np.load(entry.path / "weights.npz", allow_pickle=False) as arrays:
        assert "action_net.weight" in arrays.files and "value_net.weight" in arrays.files
    config_text = (entry.path / "config.yaml").read_text()
    assert "targets/cartpole_heavy.yaml" in config_text and str(entry.path) not in config_text
    assert not any(zipfile.is_zipfile(p) and p.suffix == ".zip" for p in entry.path.rglob("*"))


def test_the_rebuilt_policy_acts_as_the_run_did(entry, run_dir):
    reference = RunPolicy.from_run(run_dir)
    rebuilt = load_predictor(entry.path)
    env = make_env("sim2real/CartPole-v0", NOMINAL_CONDITION, {})
    try:
        observations = collect_observations(env, reference, steps=64)
    finally:
        env.close()
    np.testing.assert_array_equal(rebuilt.predict(observations), reference.predict(observations))
    assert entry.card["parity"]["max_abs_diff"] == 0.0


def test_the_card_reports_what_an_evaluation_measures(entry):
    card = json.loads((entry.path / "card.json").read_text())
    conditions = card["evaluation"]["conditions"]
    assert list(conditions) == ["nominal", "dr", "heavy"]  # tiny_ppo randomizes
    again = evaluate_runs([entry.path], settings=SETTINGS).results["tiny"]
    for name, row in conditions.items():
        assert row["mean"] == pytest.approx(again[name].summary.mean)
        low, high = row["iqm_ci95"]
        assert low <= row["iqm"] <= high
    assert conditions["heavy"]["gap"] == pytest.approx(
        conditions["nominal"]["mean"] - conditions["heavy"]["mean"]
    )
    assert card["timesteps"] == 512
    assert "| heavy |" in (entry.path / "README.md").read_text()


def test_a_config_no_shipped_one_is_named_after_is_reproduced_from_the_entry(entry):
    assert entry.card["overrides"] is None
    assert entry.card["reproduce"][0].startswith("sim2real train config.yaml --seed 0 ")
    assert "its own config `tiny`" in (entry.path / "README.md").read_text()


def test_a_shipped_config_changed_by_set_is_reproduced_with_those_sets(tmp_path):
    sets = ["randomization=null", "targets=[]", "n_envs=2", "total_timesteps=512"]
    run = train(
        load_config("cartpole_dr.yaml", [*sets, "evaluation.freq_steps=0"]),
        tmp_path / "run",
        progress_bar=False,
        verbose=False,
    )
    entry = zoo.add_entry(run.path, "changed", settings=SETTINGS, zoo_dir=tmp_path / "zoo")
    assert entry.card["overrides"] == sets  # the evaluation setting changes nothing learned
    command = entry.card["reproduce"][0]
    assert command == (
        "sim2real train cartpole_dr.yaml --seed 0 --set randomization=null --set 'targets=[]' "
        "--set n_envs=2 --set total_timesteps=512 --run-dir RUN"
    )
    readme = (entry.path / "README.md").read_text()
    assert "(without domain randomization), trained with the shipped config" in readme
    items = [word for word in shlex.split(command) if "=" in word]
    again = load_config("cartpole_dr.yaml", items)
    assert config_to_dict(again) | {"evaluation": None} == config_to_dict(
        Run.open(run.path).config
    ) | {"evaluation": None}


def test_zoo_names_resolve_wherever_runs_do(shipped, capsys):
    assert main(["zoo", "list"]) == 0
    assert "zoo:tiny_dr" in capsys.readouterr().out
    evaluation = evaluate_runs(["zoo:tiny_dr"], settings=SETTINGS)
    assert evaluation.methods == {"tiny": [str(shipped.path.resolve())]}
    with pytest.raises(UserError, match=r"zoo:nope: no such zoo entry; available: tiny_dr"):
        load_predictor("zoo:nope")


def test_zoo_add_names_each_entry_as_it_resolves(run_dir, tmp_path, capsys, monkeypatch):
    """zoo:NAME for the zoo it looks in; outside it, the path (which works where a run does)."""
    monkeypatch.setattr(zoo, "ZOO_DIR", tmp_path / "package_zoo")
    options = ["--episodes", "1", "--workers", "1"]
    assert main(["zoo", "add", str(run_dir), "--name", "mine", *options]) == 0
    assert capsys.readouterr().out.startswith(f"zoo:mine -> {tmp_path / 'package_zoo' / 'mine'}")
    elsewhere = tmp_path / "my_zoo"
    add = ["zoo", "add", str(run_dir), "--name", "mine", *options]
    assert main([*add, "--zoo-dir", str(elsewhere)]) == 0
    out = capsys.readouterr().out
    assert "zoo:" not in out and out.startswith(str(elsewhere / "mine"))
    assert main(["evaluate", str(elsewhere / "mine"), *options, "--out", str(tmp_path / "r")]) == 0


def test_a_zoo_entry_is_a_transfer_source(shipped, tmp_path):
    result = transfer(
        "zoo:tiny_dr",
        "cartpole_heavy.yaml",
        256,
        "full",
        run_dir=tmp_path / "ft",
        progress_bar=False,
        verbose=False,
    )
    assert Run.read(result.path).meta["source_run"] == str(shipped.path.resolve())
    assert result.meta["status"] == "finished" and result.meta["timesteps"] >= 256


@pytest.mark.parametrize(
    ("net_arch", "problem"),
    [
        (
            [16, 16],
            r"entry 'mlp_extractor.policy_net.0.weight' has shape \(32, 4\); the policy "
            r"its config builds has \(16, 4\)",
        ),
        ([8], r"unexpected 'mlp_extractor.policy_net.2.bias'"),
    ],
)
def test_weights_of_another_architecture_are_one_line(entry, net_arch, problem):
    from sim2real.training import build_model, make_training_env

    hyperparams = {"policy_kwargs": {"net_arch": net_arch}}
    config = parse_config(tiny_ppo(algorithm={"name": "PPO", "hyperparams": hyperparams}))
    venv = make_training_env(config)
    try:
        model = build_model(config, venv, "cpu", "test")
        with pytest.raises(UserError, match=problem):
            load_policy_weights(model, entry.path / "weights.npz")
    finally:
        venv.close()


def test_bad_zoo_input_is_one_line(run_dir, entry, tmp_path, capsys):
    assert main(["zoo", "add", str(run_dir), "--name", "Bad Name", "--zoo-dir", str(tmp_path)]) == 2
    assert "--name 'Bad Name'" in capsys.readouterr().err
    too_long = "a" * 65  # a directory name a file system may refuse
    assert main(["zoo", "add", str(run_dir), "--name", too_long, "--zoo-dir", str(tmp_path)]) == 2
    assert "use at most 64 lower-case letters" in capsys.readouterr().err
    zoo_dir = str(entry.path.parent)
    assert main(["zoo", "add", str(run_dir), "--name", "tiny_dr", "--zoo-dir", zoo_dir]) == 2
    assert "exists; pass --overwrite" in capsys.readouterr().err
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    for bad_dir, problem in [(a_file, "not a directory"), (a_file / "sub", "is a file")]:
        assert main(["zoo", "add", str(run_dir), "--name", "x", "--zoo-dir", str(bad_dir)]) == 2
        err = capsys.readouterr().err
        assert f"--zoo-dir {bad_dir}" in err and problem in err and "Traceback" not in err
    assert main(["zoo", "add", str(entry.path), "--name", "again", "--zoo-dir", zoo_dir]) == 2
    assert "give the run it was made from" in capsys.readouterr().err
    assert main(["evaluate", "zoo:missing", "--episodes", "1"]) == 2
    err = capsys.readouterr().err
    assert "zoo:missing: no such zoo entry" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("meta", "expected"),
    [
        ({"created": "2026-12-01T05:00:00+00:00", "finished": "2026-12-01T06:00:30+00:00"}, 3630.0),
        ({"created": "2026-12-01T05:00:00+00:00"}, None),  # not finished
        ({"created": "yesterday", "finished": "2026-12-01T06:00:30+00:00"}, None),
    ],
)
def test_the_cards_wall_time_is_the_runs_creation_to_its_end(meta, expected):
    assert zoo._wall_time(meta) == expected
