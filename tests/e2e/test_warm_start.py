"""``init_from:``: a run that starts from another run's policy (a curriculum of configs)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
import yaml
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecNormalize
from tiny import tiny_ppo  # tests/e2e/tiny.py: the shared tiny PPO config

from sim2real.cli import main
from sim2real.config import load_config, parse_config
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


def as_shipped_cartpole_dr(nominal_run: Run) -> dict:
    """A second stage named as the shipped cartpole_dr.yaml with every field it sets, so that a
    zoo card's command is that config with --set items."""
    config = second_stage(nominal_run, name="cartpole_dr")
    shipped = {"gamma": 0.995, "gae_lambda": 0.95, "clip_range": 0.2, "ent_coef": 0.0}
    config["algorithm"]["hyperparams"] = {**config["algorithm"]["hyperparams"], **shipped}
    return config


def policy_arrays(run: Run) -> dict[str, np.ndarray]:
    return {k: v.numpy().copy() for k, v in run.load_model().policy.state_dict().items()}


def assert_same_policy(
    model: BaseAlgorithm,
    inputs: torch.Tensor,
    source: BaseAlgorithm,
    source_inputs: torch.Tensor,
    values_atol: float = 1e-6,
) -> None:
    """``model`` on ``inputs`` acts (deterministic action mean) and values as ``source`` on
    ``source_inputs``, up to the rounding of the zero weights' added terms."""
    with torch.no_grad():
        np.testing.assert_allclose(
            model.policy.get_distribution(inputs).distribution.mean.numpy(),
            source.policy.get_distribution(source_inputs).distribution.mean.numpy(),
            rtol=0,
            atol=1e-6,
        )
        np.testing.assert_allclose(
            model.policy.predict_values(inputs).numpy(),
            source.policy.predict_values(source_inputs).numpy(),
            rtol=0,
            atol=values_atol,
        )


def test_the_policy_and_statistics_are_the_first_runs(nominal_run, tmp_path):
    config = parse_config(second_stage(nominal_run))
    venv = make_training_env(config)
    try:
        model = build_model(config, venv, "cpu", "<test>")
        first = policy_arrays(nominal_run)
        fresh = {k: v.numpy().copy() for k, v in model.policy.state_dict().items()}
        assert any(not np.array_equal(fresh[name], first[name]) for name in first)
        record = load_initial_policy(config, model, venv, "<test>", tmp_path / "new")
        for name, tensor in model.policy.state_dict().items():
            np.testing.assert_array_equal(tensor.numpy(), first[name])
        statistics = load_normalization(nominal_run.normalization_path)
        np.testing.assert_array_equal(venv.obs_rms.mean, statistics.obs_mean)
        np.testing.assert_array_equal(venv.obs_rms.var, statistics.obs_var)
        assert venv.obs_rms.count == statistics.obs_count
        # Clipping and the reward statistics stay the new config's.
        assert venv.clip_obs == config.normalize.clip_obs and venv.ret_rms.count < 1
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


def test_the_config_records_an_absolute_path(nominal_run, monkeypatch, tmp_path):
    monkeypatch.chdir(nominal_run.path.parent)
    config = parse_config(tiny_ppo(init_from="nominal"))
    assert config.init_from == str(nominal_run.path)
    assert parse_config(tiny_ppo(init_from="zoo:cartpole_dr")).init_from == "zoo:cartpole_dr"
    # In a config file: relative to the file's folder; with --set: to the working directory.
    folder = tmp_path / "configs"
    folder.mkdir()
    path = folder / "stage2.yaml"
    path.write_text(yaml.safe_dump(tiny_ppo(init_from="../runs/stage1")))
    assert load_config(path).init_from == str(tmp_path / "runs" / "stage1")
    assert load_config(path, ["init_from=nominal"]).init_from == str(nominal_run.path)


def test_a_run_directory_never_replaces_the_run_it_starts_from(nominal_run, capsys):
    config = second_stage(nominal_run)
    assert main(["train", "--overwrite", "--run-dir", str(nominal_run.path), "--no-progress",
                 "--set", f"init_from={nominal_run.path}", "cartpole_dr.yaml"]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "would replace it; give another --run-dir" in err
    assert nominal_run.model_path.is_file() and config["init_from"] == str(nominal_run.path)


def test_zoo_entries_leave_the_local_path_out(nominal_run, tmp_path):
    from sim2real.evaluation.evaluate import EvaluationSettings
    from sim2real.policies import zoo

    run = train(parse_config(as_shipped_cartpole_dr(nominal_run)), tmp_path / "dr",
                progress_bar=False, verbose=False)  # fmt: skip
    settings = EvaluationSettings(episodes=1, workers=1, n_boot=20)
    entry = zoo.add_entry(run.path, "tiny_stage2", settings=settings, zoo_dir=tmp_path / "zoo")
    assert "init_from" not in (entry.path / "config.yaml").read_text()
    assert f"--set init_from={nominal_run.path} " in entry.card["reproduce"][0]


def test_a_card_names_the_start_by_its_zoo_entry(nominal_run, tmp_path, monkeypatch):
    """A path on the training machine means nothing elsewhere: the entry with its policy does,
    if it is in the zoo that `zoo:NAME` reads."""
    from sim2real.evaluation.evaluate import EvaluationSettings
    from sim2real.policies import zoo

    settings = EvaluationSettings(episodes=1, workers=1, n_boot=20)
    zoo.add_entry(nominal_run.path, "tiny_first", settings=settings, zoo_dir=tmp_path / "zoo")
    monkeypatch.setattr(zoo, "ZOO_DIR", tmp_path / "zoo")
    for config, command in [
        (as_shipped_cartpole_dr(nominal_run), "sim2real train cartpole_dr.yaml --seed 1 --set"),
        (second_stage(nominal_run), "sim2real train config.yaml --seed 1 --set"),  # no such file
    ]:
        run = train(parse_config(config), tmp_path / config["name"], progress_bar=False,
                    verbose=False)  # fmt: skip
        entry = zoo.add_entry(run.path, f"{config['name']}_2", settings=settings,
                              zoo_dir=tmp_path / "zoo")  # fmt: skip
        assert entry.card["reproduce"][0].startswith(command)
        assert "--set init_from=zoo:tiny_first " in entry.card["reproduce"][0]
        assert str(nominal_run.path) not in json.dumps(entry.card)


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
            "a run of sim2real/CartPole-v0; this config trains sim2real/Hopper-v0",
        ),
        (
            {"algorithm": {"name": "PPO", "hyperparams": {"policy_kwargs": {"net_arch": [8]}}}},
            "policy_kwargs {'net_arch': [32, 32]} there, {'net_arch': [8]} here",
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


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("timesteps", "abc", "field 'timesteps' = 'abc'; must be a whole number >= 0"),
        ("timesteps", None, "field 'timesteps' = None; must be a whole number >= 0"),
        ("algorithm", ..., "field 'algorithm' missing; must be one of"),
    ],
)
def test_a_damaged_source_run_json_is_one_line(
    nominal_run, tmp_path, capsys, field, value, expected
):
    source = tmp_path / "source"
    shutil.copytree(nominal_run.path, source)
    meta = json.loads((source / "run.json").read_text())
    if value is ...:
        del meta[field]
    else:
        meta[field] = value
    (source / "run.json").write_text(json.dumps(meta))
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({**second_stage(nominal_run), "init_from": str(source)}))
    assert main(["train", str(path), "--run-dir", str(tmp_path / "run"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"{source / 'run.json'}: {expected}" in err, err


def test_a_history_source_starts_only_the_same_history(tmp_path, capsys):
    history = {"id": "sim2real/CartPole-v0", "history_steps": 2}
    config = tiny_ppo(env=history, total_timesteps=512, checkpoint={"freq_steps": 0})
    first = train(parse_config(config), tmp_path / "first", progress_bar=False, verbose=False)
    for env, expected in (
        ({**history, "history_steps": 3}, "env.history_steps is 2 there, 3 here"),
        ({"id": "sim2real/CartPole-v0"}, "env.history_steps is 2 there, 0 here"),
    ):
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(tiny_ppo(env=env, init_from=str(first.path))))
        assert main(["train", str(path), "--run-dir", str(tmp_path / "run"), "--no-progress"]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and expected in err, err


def test_an_asymmetric_source_starts_only_an_asymmetric_run(tmp_path, capsys):
    privileged = {"id": "sim2real/CartPole-v0", "kwargs": {"privileged": True}}
    config = tiny_ppo(env=privileged, total_timesteps=512, checkpoint={"freq_steps": 0})
    config["algorithm"] = {**config["algorithm"], "asymmetric": True}
    first = train(parse_config(config), tmp_path / "first", progress_bar=False, verbose=False)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(tiny_ppo(env=privileged, init_from=str(first.path))))
    assert main(["train", str(path), "--run-dir", str(tmp_path / "run"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "an asymmetric run (algorithm.asymmetric: true)" in err


def test_an_off_policy_teacher_is_refused_at_parse_time():
    config = tiny_ppo(init_from="zoo:cartpole_dr", algorithm={"name": "SAC"})
    config["adaptation"] = {"latent_size": 2, "history_steps": 3}
    expected = "field 'init_from' = 'zoo:cartpole_dr'; it starts an adaptation run's teacher with"
    with pytest.raises(UserError, match=expected) as error:
        parse_config(config, source="rma.yaml")
    assert "PPO or A2C only, not SAC" in str(error.value)


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


def test_sac_keeps_its_learned_entropy_coefficient(tmp_path):
    sac = {"name": "SAC", "hyperparams": {"learning_starts": 50, "buffer_size": 1000}}
    first = train(
        parse_config(tiny_ppo(algorithm=sac, total_timesteps=300, n_envs=1, normalize={})),
        tmp_path / "sac",
        progress_bar=False,
        verbose=False,
    )
    learned = first.load_model().log_ent_coef.item()
    assert learned != 0.0  # it moved from log(1)
    second = tiny_ppo(algorithm=sac, n_envs=1, normalize={}, init_from=str(first.path))
    config = parse_config(second)
    venv = make_training_env(config)
    try:
        model = build_model(config, venv, "cpu", "<test>")
        load_initial_policy(config, model, venv, "<test>", tmp_path / "new")
        assert model.log_ent_coef.item() == pytest.approx(learned)
    finally:
        venv.close()


def test_an_asymmetric_run_starts_from_a_plain_one(nominal_run, tmp_path):
    """The actor is the source's; the critic too, with zero weights for the privileged entries."""
    config = second_stage(
        nominal_run, env={"id": "sim2real/CartPole-v0", "kwargs": {"privileged": True}}
    )
    config["algorithm"] = {**config["algorithm"], "asymmetric": True}
    config = parse_config(config)
    venv = make_training_env(config)
    try:
        model = build_model(config, venv, "cpu", "<test>")
        load_initial_policy(config, model, venv, "<test>", tmp_path / "new")
        source = nominal_run.load_model()
        deployable = source.observation_space.shape[0]
        statistics = load_normalization(nominal_run.normalization_path)
        np.testing.assert_array_equal(venv.obs_rms.mean[:deployable], statistics.obs_mean)
        np.testing.assert_array_equal(venv.obs_rms.var[:deployable], statistics.obs_var)
        privileged = model.observation_space.shape[0] - deployable
        assert privileged > 0
        observations = torch.as_tensor(
            np.random.default_rng(0).normal(size=(8, deployable + privileged)), dtype=torch.float32
        )
        plain = observations[:, :deployable]
        with torch.no_grad():
            np.testing.assert_array_equal(
                model.policy.get_distribution(observations).distribution.mean.numpy(),
                source.policy.get_distribution(plain).distribution.mean.numpy(),
            )
            np.testing.assert_allclose(
                model.policy.predict_values(observations).numpy(),
                source.policy.predict_values(plain).numpy(),
                rtol=0,
                atol=1e-6,
            )
    finally:
        venv.close()


def test_an_asymmetric_sac_run_starts_from_a_plain_one(tmp_path):
    """SAC's critics read the observation, then the action: the zero columns go between."""
    sac = {"name": "SAC", "hyperparams": {"learning_starts": 50, "buffer_size": 1000,
           "policy_kwargs": {"net_arch": [16, 16]}}}  # fmt: skip
    plain = tiny_ppo(algorithm=sac, total_timesteps=200, n_envs=1, normalize={})
    first = train(parse_config(plain), tmp_path / "sac", progress_bar=False, verbose=False)
    second = tiny_ppo(
        algorithm={**sac, "asymmetric": True},
        env={"id": "sim2real/CartPole-v0", "kwargs": {"privileged": True}},
        n_envs=1,
        normalize={},
        init_from=str(first.path),
    )
    config = parse_config(second)
    venv = make_training_env(config)
    try:
        model = build_model(config, venv, "cpu", "<test>")
        load_initial_policy(config, model, venv, "<test>", tmp_path / "new")
    finally:
        venv.close()
    source = first.load_model()
    deployable = source.observation_space.shape[0]
    rng = np.random.default_rng(0)
    observations = torch.as_tensor(
        rng.normal(size=(8, model.observation_space.shape[0])), dtype=torch.float32
    )
    actions = torch.as_tensor(rng.uniform(-1, 1, size=(8, 1)), dtype=torch.float32)
    with torch.no_grad():
        np.testing.assert_array_equal(
            model.policy.actor(observations, deterministic=True).numpy(),
            source.policy.actor(observations[:, :deployable], deterministic=True).numpy(),
        )
        for here, there in zip(
            model.policy.critic(observations, actions),
            source.policy.critic(observations[:, :deployable], actions),
            strict=True,
        ):
            np.testing.assert_allclose(here.numpy(), there.numpy(), rtol=0, atol=1e-6)


def test_a_history_run_starts_from_a_plain_one(nominal_run, tmp_path):
    """The latest observation gets the source's weights, older ones and past actions zeros."""
    steps = 3
    config = parse_config(
        second_stage(nominal_run, env={"id": "sim2real/CartPole-v0", "history_steps": steps})
    )
    venv = make_training_env(config)
    try:
        model = build_model(config, venv, "cpu", "<test>")
        load_initial_policy(config, model, venv, "<test>", tmp_path / "new")
        statistics = load_normalization(nominal_run.normalization_path)
        size = statistics.obs_mean.shape[0]
        observed = slice(0, steps * size)
        mean, var = np.tile(statistics.obs_mean, steps), np.tile(statistics.obs_var, steps)
        np.testing.assert_array_equal(venv.obs_rms.mean[observed], mean)
        np.testing.assert_array_equal(venv.obs_rms.var[observed], var)
        np.testing.assert_array_equal(venv.obs_rms.mean[steps * size :], 0.0)  # past actions
        np.testing.assert_array_equal(venv.obs_rms.var[steps * size :], 1.0)
        assert venv.obs_rms.count == statistics.obs_count
    finally:
        venv.close()
    source = nominal_run.load_model()
    history = torch.as_tensor(
        np.random.default_rng(0).normal(size=(8, model.observation_space.shape[0])),
        dtype=torch.float32,
    )
    latest = history[:, (steps - 1) * size : steps * size]
    assert_same_policy(model, history, source, latest)


PRIVILEGED_CARTPOLE = {"id": "sim2real/CartPole-v0", "kwargs": {"privileged": True}}


@pytest.fixture(scope="module")
def teacher_run(tmp_path_factory) -> Run:
    """A plain run on the privileged CartPole: its actor reads the dynamics too."""
    config = tiny_ppo(env=PRIVILEGED_CARTPOLE, total_timesteps=512, checkpoint={"freq_steps": 0})
    path = tmp_path_factory.mktemp("teacher") / "run"
    return train(parse_config(config), path, progress_bar=False, verbose=False)


def refusal(config: dict, tmp_path) -> str:
    """The one-line message load_initial_policy refuses ``config``'s start with."""
    parsed = parse_config(config)
    venv = make_training_env(parsed)
    try:
        model = build_model(parsed, venv, "cpu", "<test>")
        with pytest.raises(UserError) as error:
            load_initial_policy(parsed, model, venv, "<test>", tmp_path / "new")
    finally:
        venv.close()
    message = str(error.value)
    assert "\n" not in message
    return message


def test_a_privileged_teacher_is_no_start_for_an_asymmetric_run(teacher_run, tmp_path):
    config = tiny_ppo(env=PRIVILEGED_CARTPOLE, init_from=str(teacher_run.path))
    config["algorithm"] = {**config["algorithm"], "asymmetric": True}
    message = refusal(config, tmp_path)
    assert "its actor reads all 15 entries of a privileged observation" in message, message
    assert "start from a run without env.kwargs.privileged" in message


def test_a_teacher_starts_no_run_that_observes_less(teacher_run, tmp_path):
    message = refusal(tiny_ppo(init_from=str(teacher_run.path)), tmp_path)
    assert "it reads 11 entries this run's observation lacks (dr:" in message, message


def test_a_plain_run_starts_a_teacher_that_observes_more(nominal_run, tmp_path):
    """Matched by name: the source's entries keep their weights and statistics, the privileged
    ones start at zero weight, so the teacher acts and values exactly as its source."""
    config = second_stage(
        nominal_run, env={"id": "sim2real/CartPole-v0", "kwargs": {"privileged": True}}
    )
    config = parse_config(config)
    venv = make_training_env(config)
    try:
        model = build_model(config, venv, "cpu", "<test>")
        load_initial_policy(config, model, venv, "<test>", tmp_path / "new")
        source = nominal_run.load_model()
        known = source.observation_space.shape[0]
        statistics = load_normalization(nominal_run.normalization_path)
        np.testing.assert_array_equal(venv.obs_rms.mean[:known], statistics.obs_mean)
        np.testing.assert_array_equal(venv.obs_rms.mean[known:], 0.0)
        observations = torch.as_tensor(
            np.random.default_rng(1).normal(size=(8, model.observation_space.shape[0])),
            dtype=torch.float32,
        )
        with torch.no_grad():
            np.testing.assert_allclose(
                model.policy.get_distribution(observations).distribution.mean.numpy(),
                source.policy.get_distribution(observations[:, :known]).distribution.mean.numpy(),
                rtol=0,
                atol=1e-6,
            )
    finally:
        venv.close()


A1 = {
    "env": {"id": "sim2real/A1-v0"},
    "randomization": "randomization/a1_dr.yaml",
    "targets": [],
    "n_envs": 1,
    "normalize": {"observations": False, "rewards": False},
    "algorithm": {
        "name": "PPO",
        "asymmetric": True,
        "hyperparams": {
            "n_steps": 64,
            "batch_size": 64,
            "n_epochs": 1,
            "policy_kwargs": {"net_arch": [16]},
        },
    },  # fmt: skip
    "evaluation": {"freq_steps": 0},
    "checkpoint": {"freq_steps": 0},
}
PRIVILEGED_A1 = {"id": "sim2real/A1-v0", "kwargs": {"privileged": True}}


@pytest.fixture(scope="module")
def a1_run(tmp_path_factory) -> Run:
    """An asymmetric A1 run of one rollout."""
    config = parse_config(tiny_ppo(**{**A1, "env": PRIVILEGED_A1, "total_timesteps": 64}))
    path = tmp_path_factory.mktemp("a1") / "run"
    return train(config, path, progress_bar=False, verbose=False)


def test_an_asymmetric_a1_starts_one_with_the_gait_clock(a1_run, tmp_path):
    """The clock's two entries sit between the A1's 45 sensors and the privileged entries:
    the actor's and the critic's first layers each take the source's columns by name."""
    first = a1_run
    clock = {"id": "sim2real/A1-v0", "kwargs": {"privileged": True, "gait_frequency_hz": 2.0}}
    config = parse_config(tiny_ppo(**{**A1, "env": clock, "init_from": str(first.path)}))
    venv = make_training_env(config)
    try:
        model = build_model(config, venv, "cpu", "<test>")
        load_initial_policy(config, model, venv, "<test>", tmp_path / "new")
        names = (*venv.get_attr("observation_names")[0], *venv.get_attr("privileged_names")[0])
        source = first.load_model()
        assert names[45:47] == ("gait_clock_sin", "gait_clock_cos")
        observations = torch.as_tensor(
            np.random.default_rng(2).normal(size=(8, len(names))), dtype=torch.float32
        )
        kept = [i for i, name in enumerate(names) if "gait_clock" not in name]
        assert len(kept) == source.observation_space.shape[0]
        assert_same_policy(model, observations, source, observations[:, kept], values_atol=1e-5)
    finally:
        venv.close()


def test_a_history_run_that_observes_less_than_its_source_is_refused(teacher_run, tmp_path):
    history = {"id": "sim2real/CartPole-v0", "history_steps": 1}
    message = refusal(tiny_ppo(env=history, init_from=str(teacher_run.path)), tmp_path)
    assert "it reads 11 entries this run's observation lacks (dr:" in message, message


def test_a_privileged_teacher_is_no_start_for_an_asymmetric_history_run(teacher_run, tmp_path):
    env = {**PRIVILEGED_CARTPOLE, "history_steps": 2}
    config = tiny_ppo(env=env, init_from=str(teacher_run.path))
    config["algorithm"] = {**config["algorithm"], "asymmetric": True}
    message = refusal(config, tmp_path)
    assert "its actor reads all 15 entries of a privileged observation" in message, message


def test_an_asymmetric_history_run_starts_from_an_asymmetric_one(tmp_path):
    """The history's latest observation and the privileged entries after the past actions take
    the source's columns: the actor acts as the source's on the latest observation, the critic
    values as the source's on it and the privileged entries; the statistics go by name."""
    asymmetric = {**tiny_ppo()["algorithm"], "asymmetric": True}
    source_config = tiny_ppo(
        env=PRIVILEGED_CARTPOLE, algorithm=asymmetric, total_timesteps=512,
        checkpoint={"freq_steps": 0},
    )  # fmt: skip
    first = train(parse_config(source_config), tmp_path / "a", progress_bar=False, verbose=False)
    steps = 3
    env = {**PRIVILEGED_CARTPOLE, "history_steps": steps}
    config = parse_config(tiny_ppo(env=env, algorithm=asymmetric, init_from=str(first.path)))
    venv = make_training_env(config)
    try:
        model = build_model(config, venv, "cpu", "<test>")
        load_initial_policy(config, model, venv, "<test>", tmp_path / "new")
        source = first.load_model()
        measured = source.policy.pi_features_extractor.size
        privileged = source.observation_space.shape[0] - measured
        total = model.observation_space.shape[0]
        assert total == steps * (measured + 1) + privileged  # CartPole: one action entry
        statistics = load_normalization(first.normalization_path)
        mean = np.concatenate(
            [np.tile(statistics.obs_mean[:measured], steps), np.zeros(steps),
             statistics.obs_mean[measured:]]
        )  # fmt: skip
        var = np.concatenate(
            [np.tile(statistics.obs_var[:measured], steps), np.ones(steps),
             statistics.obs_var[measured:]]
        )  # fmt: skip
        np.testing.assert_array_equal(venv.obs_rms.mean, mean.astype(venv.obs_rms.mean.dtype))
        np.testing.assert_array_equal(venv.obs_rms.var, var.astype(venv.obs_rms.var.dtype))
        assert venv.obs_rms.count == statistics.obs_count
        history = torch.as_tensor(
            np.random.default_rng(3).normal(size=(8, total)), dtype=torch.float32
        )
        latest = history[:, (steps - 1) * measured : steps * measured]
        plain = torch.cat([latest, history[:, total - privileged :]], dim=1)
        assert_same_policy(model, history, source, plain)
    finally:
        venv.close()


def test_entries_of_the_same_count_are_matched_by_name_too(tmp_path):
    """Two teachers of the same size whose privileged entries differ (gravity there, motor
    strength here): the columns would read another quantity, so the start is refused."""
    terms = [
        {"parameter": "link_mass", "selector": "pole", "range": [0.5, 3.0]},
        {"parameter": "gravity", "range": [0.9, 1.1]},
    ]
    first = tiny_ppo(
        env=PRIVILEGED_CARTPOLE, randomization={"terms": terms}, total_timesteps=256,
        checkpoint={"freq_steps": 0}, targets=[],
    )  # fmt: skip
    source = train(parse_config(first), tmp_path / "first", progress_bar=False, verbose=False)
    other = [terms[0], {"parameter": "motor_strength", "range": [0.5, 1.0]}]
    config = tiny_ppo(
        env=PRIVILEGED_CARTPOLE, randomization={"terms": other}, targets=[],
        init_from=str(source.path),
    )  # fmt: skip
    message = refusal(config, tmp_path)
    assert "it reads 1 entries this run's observation lacks (dr:gravity" in message, message


def asymmetric_cartpole(terms: list[dict], **changes) -> dict:
    """A tiny asymmetric PPO on the privileged CartPole under ``terms``."""
    asymmetric = {**tiny_ppo()["algorithm"], "asymmetric": True}
    fields = {
        "env": PRIVILEGED_CARTPOLE, "algorithm": asymmetric, "randomization": {"terms": terms},
        "targets": [], "checkpoint": {"freq_steps": 0},
    }  # fmt: skip
    return tiny_ppo(**{**fields, **changes})


MASS = {"parameter": "link_mass", "selector": "pole", "range": [0.5, 3.0]}
MOTOR = {"parameter": "motor_strength", "range": [0.5, 1.0]}
GRAVITY = {"parameter": "gravity", "range": [0.9, 1.1]}
DAMPING = {"parameter": "joint_damping", "selector": "slider_to_cart", "range": [0.0, 0.1]}


@pytest.fixture(scope="module")
def three_term_asymmetric(tmp_path_factory) -> Run:
    """An asymmetric CartPole whose critic reads three dynamics entries, motors in the middle."""
    config = asymmetric_cartpole([MASS, MOTOR, GRAVITY], total_timesteps=256)
    path = tmp_path_factory.mktemp("three") / "run"
    return train(parse_config(config), path, progress_bar=False, verbose=False)


def started_without_motor(config: dict, source_run: Run, tmp_path) -> VecNormalize:
    """Start ``config`` (a spec without the source's motor strength) and check that the motor
    column alone is left out: the model acts and values as the source with that input at 0
    (its mean). The training env, closed, with the statistics it was given."""
    parsed = parse_config(config)
    venv = make_training_env(parsed)
    try:
        model = build_model(parsed, venv, "cpu", "<test>")
        record = load_initial_policy(parsed, model, venv, "<test>", tmp_path / "new")
        assert record["left_out_of_critic"] == ["dr:motor_strength:slider_to_cart"]
        source = source_run.load_model()
        size = model.observation_space.shape[0]
        assert source.observation_space.shape[0] == size + 1
        motor = size - 1  # the privileged entries come last: the mass, the motors, gravity
        observations = torch.as_tensor(
            np.random.default_rng(4).normal(size=(8, size)), dtype=torch.float32
        )
        zero = torch.zeros(8, 1)
        without_motor = torch.cat([observations[:, :motor], zero, observations[:, motor:]], 1)
        assert_same_policy(model, observations, source, without_motor)
    finally:
        venv.close()
    return venv


def test_an_asymmetric_run_starts_one_whose_spec_draws_less(three_term_asymmetric, tmp_path):
    """The source's critic read the motor strength, which the new spec no longer draws: that
    column is left out, and the statistics go by name. A teacher is still refused (above)."""
    config = asymmetric_cartpole([MASS, GRAVITY], init_from=str(three_term_asymmetric.path))
    venv = started_without_motor(config, three_term_asymmetric, tmp_path)
    statistics = load_normalization(three_term_asymmetric.normalization_path)
    kept = [0, 1, 2, 3, 4, 6]  # all but the motors' column
    np.testing.assert_array_equal(venv.obs_rms.mean, statistics.obs_mean[kept])
    np.testing.assert_array_equal(venv.obs_rms.var, statistics.obs_var[kept])
    assert venv.obs_rms.count == statistics.obs_count


def test_a_spec_that_swaps_an_element_one_for_one_is_refused(three_term_asymmetric, tmp_path):
    # As many entries, one another: the layers keep their width, so no column could move.
    swapped = asymmetric_cartpole(
        [MASS, DAMPING, GRAVITY], init_from=str(three_term_asymmetric.path)
    )
    message = refusal(swapped, tmp_path)
    assert "its observation has 7 entries, as this run's, but they differ by name (dr:mo" in (
        message
    ), message


def test_an_asymmetric_history_source_is_matched_by_name(tmp_path):
    """A history source's entries go by name too: a spec that draws less leaves the critic's
    column out, one that swaps an element at the same width is refused (it was taken)."""
    history = {**PRIVILEGED_CARTPOLE, "history_steps": 2}
    first = asymmetric_cartpole([MASS, MOTOR, GRAVITY], env=history, total_timesteps=256)
    source_run = train(parse_config(first), tmp_path / "a", progress_bar=False, verbose=False)
    less = asymmetric_cartpole([MASS, GRAVITY], env=history, init_from=str(source_run.path))
    started_without_motor(less, source_run, tmp_path)
    swapped = asymmetric_cartpole(
        [MASS, DAMPING, GRAVITY], env=history, init_from=str(source_run.path)
    )
    assert "but they differ by name (dr:motor_strength" in refusal(swapped, tmp_path)


ADAPTATION = {"latent_size": 3, "encoder_layers": [8], "history_steps": 3, "timesteps": 100}


@pytest.fixture(scope="module")
def asymmetric_run(tmp_path_factory) -> Run:
    """An asymmetric run on the privileged CartPole: its critic reads the dynamics."""
    config = tiny_ppo(env=PRIVILEGED_CARTPOLE, total_timesteps=512, checkpoint={"freq_steps": 0})
    config["algorithm"] = {**config["algorithm"], "asymmetric": True}
    path = tmp_path_factory.mktemp("asymmetric") / "run"
    return train(parse_config(config), path, progress_bar=False, verbose=False)


def started_teacher(
    source: Run, tmp_path, history_steps: int = 0
) -> tuple[BaseAlgorithm, np.ndarray, np.ndarray]:
    """The teacher of an adaptation config with ``init_from: source`` (its body on
    ``history_steps``), as its phase 1 starts; and its observation's normalization mean and
    variance."""
    from sim2real.transfer.rma.training import teacher_config

    env = {"id": "sim2real/CartPole-v0", "history_steps": history_steps}
    config = tiny_ppo(env=env, init_from=str(source.path), adaptation=ADAPTATION)
    teacher = teacher_config(parse_config(config), "<test>")
    venv = make_training_env(teacher)
    try:
        model = build_model(teacher, venv, "cpu", "<test>")
        load_initial_policy(teacher, model, venv, "<test>", tmp_path / "new")
        return model, venv.obs_rms.mean.copy(), venv.obs_rms.var.copy()
    finally:
        venv.close()


def test_an_asymmetric_run_starts_a_teacher_that_acts_as_it_did(asymmetric_run, tmp_path):
    """The body's actor is the source's with zero weights for the latent; its critic the
    source's without the privileged columns, which the latent stands in for."""
    model, mean, var = started_teacher(asymmetric_run, tmp_path)
    source = asymmetric_run.load_model()
    statistics = load_normalization(asymmetric_run.normalization_path)
    assert model.observation_space.shape == source.observation_space.shape  # the same entries
    np.testing.assert_array_equal(mean, statistics.obs_mean)
    np.testing.assert_array_equal(var, statistics.obs_var)
    deployable = source.policy.pi_features_extractor.size
    observations = torch.as_tensor(
        np.random.default_rng(2).normal(size=(8, model.observation_space.shape[0])),
        dtype=torch.float32,
    )
    measured_only = observations.clone()  # the source's actor reads no privileged entry
    measured_only[:, deployable:] = 0.0
    assert_same_policy(model, observations, source, measured_only)
    with torch.no_grad():
        latent = model.policy.features_extractor.latent(observations)
    assert latent.abs().sum() > 0  # a working encoder, whose output the body ignores at first
    body = model.policy.mlp_extractor.policy_net[0].weight
    assert torch.equal(body[:, deployable:], torch.zeros_like(body[:, deployable:]))


def test_a_plain_run_starts_a_teacher(nominal_run, tmp_path):
    model, _, _ = started_teacher(nominal_run, tmp_path)
    source = nominal_run.load_model()
    known = source.observation_space.shape[0]
    observations = torch.as_tensor(
        np.random.default_rng(3).normal(size=(8, model.observation_space.shape[0])),
        dtype=torch.float32,
    )
    assert_same_policy(model, observations, source, observations[:, :known])


def test_a_plain_run_starts_a_teacher_whose_body_reads_a_history(nominal_run, tmp_path):
    """The body's window [o_(t-1), o_t, a_(t-2), a_(t-1)]: the source's weights read o_t, the
    older steps and the actions start at zero weight."""
    model, mean, _ = started_teacher(nominal_run, tmp_path, history_steps=2)
    source = nominal_run.load_model()
    statistics = load_normalization(nominal_run.normalization_path)
    np.testing.assert_array_equal(mean[0:4], statistics.obs_mean)  # each step's: the source's
    np.testing.assert_array_equal(mean[4:8], statistics.obs_mean)
    observations = torch.as_tensor(
        np.random.default_rng(4).normal(size=(8, model.observation_space.shape[0])),
        dtype=torch.float32,
    )
    assert_same_policy(model, observations, source, observations[:, 4:8])


def test_a_history_run_starts_a_teacher_on_the_same_history(tmp_path):
    history = {"id": "sim2real/CartPole-v0", "history_steps": 2}
    config = tiny_ppo(env=history, total_timesteps=512, checkpoint={"freq_steps": 0})
    first = train(parse_config(config), tmp_path / "first", progress_bar=False, verbose=False)
    model, _, _ = started_teacher(first, tmp_path, history_steps=2)
    source = first.load_model()
    assert model.policy.features_extractor.observation_size == source.observation_space.shape[0]
    observations = torch.as_tensor(
        np.random.default_rng(5).normal(size=(8, model.observation_space.shape[0])),
        dtype=torch.float32,
    )
    assert_same_policy(model, observations, source, observations[:, :10])


def test_a_privileged_actor_starts_no_teacher(teacher_run, tmp_path, capsys):
    config = tiny_ppo(init_from=str(teacher_run.path), adaptation=ADAPTATION)
    assert main_train(config, tmp_path) == 2
    err = capsys.readouterr().err.strip()
    expected = "its actor reads all 15 entries of a privileged observation; a teacher's body"
    assert len(err.splitlines()) == 1 and expected in err, err
    assert not (tmp_path / "run").exists()


def test_train_starts_the_teacher_from_init_from_then_trains_the_student(asymmetric_run, tmp_path):
    config = tiny_ppo(init_from=str(asymmetric_run.path), adaptation=ADAPTATION)
    config["total_timesteps"] = 512
    assert main_train(config, tmp_path) == 0
    run = Run.open(tmp_path / "run")
    teacher = Run.open(tmp_path / "run" / "teacher")
    assert run.meta["status"] == "finished" and run.meta["phase"] == "student"
    assert teacher.meta["init_from"]["run"] == str(asymmetric_run.path.resolve())


def main_train(config: dict, tmp_path) -> int:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return main(["train", str(path), "--run-dir", str(tmp_path / "run"), "--no-progress"])


def test_other_action_bounds_are_refused(a1_run, tmp_path):
    """The source's action means would reach the joints through other bounds."""
    wider = {"id": "sim2real/A1-v0", "kwargs": {"privileged": True, "action_clip": 3.0}}
    message = refusal(tiny_ppo(**{**A1, "env": wider, "init_from": str(a1_run.path)}), tmp_path)
    assert "its actions are bounded by [-1, 1], this env's by [-3, 3]; give both" in message


def test_an_adaptation_run_never_overwrites_the_run_it_starts_from(
    asymmetric_run, tmp_path, capsys
):
    source = tmp_path / "source"
    shutil.copytree(asymmetric_run.path, source)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(tiny_ppo(init_from=str(source), adaptation=ADAPTATION)))
    command = ["train", str(path), "--run-dir", str(source), "--overwrite", "--no-progress"]
    assert main(command) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "would replace it; give another --run-dir" in err, err
    assert Run.open(source).meta["status"] == "finished"


def test_a_refused_teacher_start_keeps_the_run_overwrite_names(
    teacher_run, asymmetric_run, tmp_path, capsys
):
    """The checks that need the policies run before ``--overwrite`` replaces anything, and
    name the user's config, not the run directory's copy."""
    existing = tmp_path / "existing"
    shutil.copytree(asymmetric_run.path, existing)
    path = tmp_path / "config.yaml"
    path.write_text(
        yaml.safe_dump(tiny_ppo(init_from=str(teacher_run.path), adaptation=ADAPTATION))
    )
    command = ["train", str(path), "--run-dir", str(existing), "--overwrite", "--no-progress"]
    assert main(command) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"{path}: field 'init_from'" in err, err
    assert "its actor reads all 15 entries of a privileged observation" in err
    assert Run.open(existing).meta["status"] == "finished"
