"""Config validation that needs no env: every error names the file, the field and the value.

Each bad config here fails before the env would be made (structure, hyperparameters, files),
so these tests build no PyBullet world; the checks that need one live in tests/env.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import get_args

import gymnasium as gym
import pytest
import yaml

from sim2real import hyperparams
from sim2real.config import (
    AlgorithmConfig,
    AlgorithmName,
    apply_overrides,
    load_config,
    parse_config,
    resolve_config_path,
    sb3_kwargs,
)
from sim2real.errors import UserError
from sim2real.resources import shipped_dir

BASE = {
    "name": "unit",
    "env": {"id": "sim2real/CartPole-v0"},
    "algorithm": {"name": "PPO", "hyperparams": {"n_steps": 64, "batch_size": 64}},
    "total_timesteps": 1000,
}


def with_(path: str, value, base=BASE) -> dict:
    """BASE with one dotted field set (or removed when value is ...)."""
    data = copy.deepcopy(base)
    *parents, last = path.split(".")
    node = data
    for key in parents:
        node = node.setdefault(key, {})
    if value is ...:
        del node[last]
    else:
        node[last] = value
    return data


def error_of(data, source="exp.yaml", base_dir=None) -> str:
    with pytest.raises(UserError) as caught:
        parse_config(data, source=source, base_dir=base_dir)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(source)
    return message


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("colour", "red", ["field 'colour' = 'red'", "valid: name, env, randomization"]),
        ("algorithm.lr", 0.1, ["field 'algorithm.lr' = 0.1", "valid: name, policy, hyperparams"]),
        ("normalize.mean", True, ["field 'normalize.mean'", "valid: observations, rewards"]),
        ("evaluation.every", 5, ["field 'evaluation.every'", "freq_steps, episodes"]),
        ("env.name", "x", ["field 'env.name'", "valid: id, kwargs"]),
    ],
)
def test_unknown_keys_list_the_valid_ones(path, value, expected):
    message = error_of(with_(path, value))
    for part in expected:
        assert part in message


def test_unknown_hyperparameter_lists_the_constructor_arguments():
    message = error_of(with_("algorithm.hyperparams.n_step", 128))
    assert "field 'algorithm.hyperparams.n_step' = 128" in message
    assert "not a PPO hyperparameter" in message
    assert "n_steps" in message and "gae_lambda" in message
    assert "seed" not in message.split("valid:")[1]  # set at the top level, never here


def test_sac_and_ppo_hyperparameters_are_not_interchangeable():
    data = with_("algorithm", {"name": "SAC", "hyperparams": {"n_epochs": 10}})
    message = error_of(data)
    assert "'algorithm.hyperparams.n_epochs' = 10" in message
    assert "not a SAC hyperparameter" in message and "buffer_size" in message


@pytest.mark.parametrize(
    ("key", "hint"),
    [("seed", "top-level 'seed'"), ("n_envs", "top-level 'n_envs'"), ("policy", "policy")],
)
def test_managed_and_zoo_keys_point_to_the_right_field(key, hint):
    message = error_of(with_(f"algorithm.hyperparams.{key}", 4))
    assert f"field 'algorithm.hyperparams.{key}'" in message and hint in message


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("n_envs", "four", "field 'n_envs' = 'four'"),
        ("n_envs", 0, "greater than or equal to 1"),
        ("total_timesteps", 1.5, "field 'total_timesteps' = 1.5"),
        ("seed", True, "field 'seed' = True"),
        ("device", "tpu", "'auto', 'cpu' or 'cuda'"),
        ("vec_env", "ray", "'dummy' or 'subproc'"),
        ("algorithm.name", "DQN", "field 'algorithm.name' = 'DQN'"),
        ("normalize.clip_obs", -1.0, "field 'normalize.clip_obs' = -1.0"),
        ("evaluation.episodes", 0, "field 'evaluation.episodes' = 0"),
        ("algorithm.hyperparams.gamma", "high", "'algorithm.hyperparams.gamma' = 'high'"),
        ("algorithm.hyperparams.gamma", 1.5, "must be >= 0 and <= 1"),
        ("algorithm.hyperparams.n_epochs", 2.5, "'algorithm.hyperparams.n_epochs' = 2.5"),
        ("algorithm.hyperparams.use_sde", "yes", "'algorithm.hyperparams.use_sde' = 'yes'"),
        ("algorithm.hyperparams.batch_size", 0, "must be >= 1"),
        ("algorithm.hyperparams.learning_rate", float("inf"), "must be a finite number"),
        ("algorithm.hyperparams.learning_rate", 1e30, "must be > 0 and <= 1"),
        ("algorithm.hyperparams.learning_rate", "lin_1e30", "must be > 0 and <= 1"),
        ("algorithm.hyperparams.vf_coef", 1e308, "must be >= 0 and <= 100"),
        ("algorithm.hyperparams.ent_coef", float("nan"), "must be a finite number"),
        ("name", "my run", "field 'name' = 'my run'"),
    ],
)
def test_wrong_types_and_values(path, value, expected):
    assert expected in error_of(with_(path, value))


def test_missing_required_field():
    assert "field 'total_timesteps' is required" in error_of(with_("total_timesteps", ...))


def test_unregistered_env_lists_the_registered_ones():
    message = error_of(with_("env.id", "CartPole-v1"))
    assert "field 'env.id' = 'CartPole-v1'" in message
    assert "sim2real/CartPole-v0" in message and "sim2real/Hopper-v0" in message


@pytest.mark.parametrize("bad", ["lin_abc", "lin_", "linear_3e-4", "lin_-1e-3", "3e-4x"])
def test_bad_schedule_strings(bad):
    message = error_of(with_("algorithm.hyperparams.learning_rate", bad))
    assert f"field 'algorithm.hyperparams.learning_rate' = '{bad}'" in message
    assert "lin_" in message


def test_schedule_becomes_a_linear_callable_and_names_become_classes():
    import torch.nn

    algorithm = AlgorithmConfig(
        name="PPO",
        hyperparams={
            "learning_rate": "lin_3e-4",
            "clip_range": 0.2,
            "policy_kwargs": {"activation_fn": "relu", "net_arch": {"pi": [8], "vf": [8]}},
        },
    )
    kwargs = sb3_kwargs(algorithm)
    schedule = kwargs["learning_rate"]
    assert schedule(1.0) == pytest.approx(3e-4)
    assert schedule(0.5) == pytest.approx(1.5e-4)
    assert schedule(0.0) == 0.0
    assert kwargs["clip_range"] == 0.2
    assert kwargs["policy_kwargs"]["activation_fn"] is torch.nn.ReLU
    # A fresh dict every call: SB3 writes into the policy_kwargs it is given.
    assert sb3_kwargs(algorithm)["policy_kwargs"] is not kwargs["policy_kwargs"]
    assert algorithm.hyperparams["policy_kwargs"]["activation_fn"] == "relu"


def test_parse_schedule_never_evaluates():
    assert hyperparams.parse_schedule("lin_7.3e-4") == pytest.approx(7.3e-4)
    with pytest.raises(ValueError):
        hyperparams.parse_schedule("lin___import__('os')")


@pytest.mark.parametrize(
    ("policy_kwargs", "expected"),
    [
        ({"activation_fn": "ReLU"}, "policy_kwargs.activation_fn' = 'ReLU'; unknown activation"),
        ({"activation_fn": "nn.Tanh"}, "valid: relu, tanh, elu, leaky_relu"),
        ({"net_arch": [64, "big"]}, "policy_kwargs.net_arch' = [64, 'big']"),
        ({"net_arch": {"pi": [8], "qf": [8]}}, "policy_kwargs.net_arch.qf'"),
        ({"log_std": -2}, "policy_kwargs.log_std' = -2; not an argument of MlpPolicy"),
        ({"ortho_init": "no"}, "policy_kwargs.ortho_init' = 'no'"),
        ({"features_extractor_class": "Flatten"}, "not settable from YAML"),
        ({"log_std_init": float("nan")}, "policy_kwargs.log_std_init' = nan; must be a finite"),
        ({"log_std_init": 1e6}, "policy_kwargs.log_std_init' = 1000000.0; must be >= -20 and <= 5"),
        ({"net_arch": [64, 10**6]}, "policy_kwargs.net_arch[1]' = 1000000; must be <= 16,384"),
    ],
)
def test_policy_kwargs_are_checked(policy_kwargs, expected):
    assert expected in error_of(with_("algorithm.hyperparams.policy_kwargs", policy_kwargs))


def test_off_policy_net_arch_uses_qf():
    data = with_(
        "algorithm",
        {"name": "SAC", "hyperparams": {"policy_kwargs": {"net_arch": {"pi": [8], "vf": [8]}}}},
    )
    assert "policy_kwargs.net_arch.vf'" in error_of(data)


def test_recurrent_ppo_needs_a_recurrent_policy():
    data = with_("algorithm", {"name": "RecurrentPPO", "policy": "MlpPolicy"})
    message = error_of(data)
    assert "field 'algorithm.policy' = 'MlpPolicy'" in message and "MlpLstmPolicy" in message


def test_recurrent_ppo_defaults_to_the_lstm_policy():
    assert AlgorithmConfig(name="RecurrentPPO").policy == "MlpLstmPolicy"
    assert AlgorithmConfig(name="PPO").policy == "MlpPolicy"


def test_algorithm_names_match_the_classes():
    assert set(get_args(AlgorithmName)) == set(hyperparams.ALGORITHMS)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("auto", None), ("auto_0.1", None), ("automatic", "'auto_<init>'"), (-0.1, ">= 0")],
)
def test_sac_ent_coef_strings(value, expected):
    checked = {"ent_coef": value}
    if expected is None:
        assert hyperparams.validate_hyperparams("SAC", "MlpPolicy", checked) == checked
    else:
        with pytest.raises(hyperparams.HyperparameterError, match=expected):
            hyperparams.validate_hyperparams("SAC", "MlpPolicy", checked)


def test_train_freq_list_becomes_a_tuple_and_floats_become_counts():
    checked = hyperparams.validate_hyperparams(
        "SAC", "MlpPolicy", {"train_freq": [1, "episode"], "buffer_size": 1e6}
    )
    assert checked == {"train_freq": (1, "episode"), "buffer_size": 1_000_000}
    assert isinstance(checked["buffer_size"], int)
    with pytest.raises(hyperparams.HyperparameterError, match="step | episode"):
        hyperparams.validate_hyperparams("SAC", "MlpPolicy", {"train_freq": [1, "epoch"]})


def test_ppo_batch_larger_than_the_rollout():
    data = with_("algorithm.hyperparams", {"n_steps": 32, "batch_size": 128})
    message = error_of(with_("n_envs", 2, data))
    assert "field 'algorithm.hyperparams.batch_size' = 128" in message and "= 64" in message


def test_replay_buffer_checkpoints_need_an_off_policy_algorithm():
    message = error_of(with_("checkpoint.save_replay_buffer", True))
    assert "field 'checkpoint.save_replay_buffer' = True" in message and "SAC" in message


@pytest.mark.parametrize("algorithm", ["SAC", "TD3", "TQC"])
def test_continuous_only_algorithms_reject_discrete_actions(algorithm):
    with pytest.raises(ValueError, match=f"{algorithm} needs a continuous"):
        hyperparams.check_action_space(algorithm, {}, gym.spaces.Discrete(2))
    hyperparams.check_action_space(algorithm, {}, gym.spaces.Box(-1, 1, (1,)))


def test_gsde_rejects_discrete_actions_and_ppo_accepts_them():
    hyperparams.check_action_space("PPO", {}, gym.spaces.Discrete(2))
    with pytest.raises(ValueError, match="use_sde"):
        hyperparams.check_action_space("PPO", {"use_sde": True}, gym.spaces.Discrete(2))


def test_missing_target_file(tmp_path):
    message = error_of(with_("targets", ["targets/nope.yaml"]), base_dir=tmp_path)
    assert "field 'targets[0]' = 'targets/nope.yaml'" in message
    assert "cartpole_heavy.yaml" in message  # lists the shipped ones


def test_target_for_another_env():
    message = error_of(with_("targets", ["targets/hopper_heavy.yaml"]))
    assert "field 'targets[0]'" in message
    assert "'sim2real/Hopper-v0' but env.id is 'sim2real/CartPole-v0'" in message


def test_duplicate_target_names():
    message = error_of(with_("targets", ["cartpole_heavy.yaml", "targets/cartpole_heavy.yaml"]))
    assert "field 'targets[1]'" in message and "already used by targets[0]" in message


def test_broken_target_file_is_named(tmp_path):
    (tmp_path / "t.yaml").write_text("name: t\nenv_id: sim2real/CartPole-v0\nterms: 3\n")
    message = error_of(with_("targets", ["t.yaml"]), base_dir=tmp_path)
    assert "field 'targets[0]' = 't.yaml'" in message and "non-empty list of terms" in message


def test_missing_randomization_file(tmp_path):
    message = error_of(with_("randomization", "nope.yaml"), base_dir=tmp_path)
    assert "field 'randomization' = 'nope.yaml'" in message and "cartpole_dr.yaml" in message


def test_inline_randomization_error_names_the_config():
    message = error_of(with_("randomization", [{"parameter": "mass", "range": [1, 2]}]))
    assert message.startswith("exp.yaml: randomization: term 0")
    assert "link_mass" in message


def test_overrides_are_typed_by_yaml():
    data, _ = apply_overrides(
        BASE,
        [
            "algorithm.hyperparams.learning_rate=1e-3",
            "n_envs=4",
            "normalize.observations=true",
            "algorithm.hyperparams.policy_kwargs.net_arch=[32, 32]",
            "name=run-7",
            "randomization=null",
        ],
        "exp.yaml",
    )
    hp = data["algorithm"]["hyperparams"]
    assert hp["learning_rate"] == 1e-3 and isinstance(hp["learning_rate"], float)
    assert data["n_envs"] == 4 and isinstance(data["n_envs"], int)
    assert data["normalize"] == {"observations": True}
    assert hp["policy_kwargs"] == {"net_arch": [32, 32]}
    assert data["name"] == "run-7" and data["randomization"] is None
    assert BASE["algorithm"]["hyperparams"] == {"n_steps": 64, "batch_size": 64}  # not mutated


@pytest.mark.parametrize(
    ("override", "field", "value"),
    [
        ("init_from=zoo:hopper_dr", "init_from", "zoo:hopper_dr"),  # as YAML: {'zoo': ...}
        ("init_from=yes", "init_from", "yes"),  # as YAML: True
        ("init_from=null", "init_from", None),
        ("init_from='zoo:x'", "init_from", "zoo:x"),  # quoted, as set_item writes some
        ("name=123", "name", "123"),
    ],
)
def test_names_and_paths_are_taken_as_typed(override, field, value):
    data, _ = apply_overrides(BASE, [override], "exp.yaml")
    assert data[field] == value


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("init_from=", "--set init_from=: give a run directory or zoo:NAME, or null for none"),
        ("init_from= ", "--set init_from= : give a run directory or zoo:NAME"),
        ("name=null", "--set name=null: give a run name"),
    ],
)
def test_an_empty_name_or_path_is_refused(override, expected):
    with pytest.raises(UserError) as caught:
        apply_overrides(BASE, [override], "exp.yaml")
    assert str(caught.value).startswith(expected)


def test_yaml_files_read_exponents_as_floats(tmp_path):
    from sim2real.resources import read_yaml

    (tmp_path / "x.yaml").write_text("a: 3e-4\nb: 1e6\nc: 1.5\nd: '3e-4'\ne: 12\n")
    assert read_yaml(tmp_path / "x.yaml") == {"a": 3e-4, "b": 1e6, "c": 1.5, "d": "3e-4", "e": 12}


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("colour=red", "(--set colour=red): field 'colour' = 'red'; not a known field"),
        ("algorithm.hyperparams.n_step=3", "(--set algorithm.hyperparams.n_step=3): field"),
        ("n_envs=zero", "(--set n_envs=zero): field 'n_envs' = 'zero'"),
        ("name.first=x", "(--set name.first=x): field 'name' = 'unit' is not a mapping"),
    ],
)
def test_bad_overrides_name_the_file_and_the_set(tmp_path, override, expected):
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(BASE))
    with pytest.raises(UserError) as caught:
        load_config(path, [override])
    assert str(caught.value).startswith(str(path))
    assert expected in str(caught.value)


@pytest.mark.parametrize(
    ("overrides", "blamed"),
    [
        (["algorithm.hyperparams.n_steps=8"], "algorithm.hyperparams.n_steps=8"),
        (["seed=3", "algorithm.hyperparams.n_steps=8"], "algorithm.hyperparams.n_steps=8"),
        (["n_envs=1", "algorithm.hyperparams.n_steps=1"], "algorithm.hyperparams.n_steps=1"),
    ],
)
def test_a_combination_error_blames_the_set_of_either_field(tmp_path, overrides, blamed):
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(BASE))
    with pytest.raises(UserError) as caught:
        load_config(path, overrides)
    assert str(caught.value).startswith(f"{path} (--set {blamed}): field 'algorithm.hyperparams.")


def test_override_without_equals_sign(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(BASE))
    with pytest.raises(UserError, match="--set n_envs: expected key.sub=value"):
        load_config(path, ["n_envs"])


@pytest.mark.parametrize(
    ("field", "value"),
    [("n_envs", 0), ("algorithm.hyperparams.batch_size", 128)],  # one field; a combination
)
def test_an_error_in_the_file_is_not_blamed_on_a_set(tmp_path, field, value):
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(with_(field, value)))
    with pytest.raises(UserError) as caught:
        load_config(path, ["seed=3"])
    assert str(caught.value).startswith(f"{path}: field '{field}' = {value}")


def test_bad_yaml_and_empty_files(tmp_path):
    (tmp_path / "bad.yaml").write_text("name: [unclosed\n")
    with pytest.raises(UserError, match="bad.yaml: not valid YAML"):
        load_config(tmp_path / "bad.yaml")
    (tmp_path / "empty.yaml").write_text("")
    with pytest.raises(UserError, match="empty.yaml: the config file is empty"):
        load_config(tmp_path / "empty.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n")
    with pytest.raises(UserError, match="list.yaml: a config must be a mapping"):
        load_config(tmp_path / "list.yaml")


def test_resolve_finds_shipped_files_by_kind(tmp_path):
    shipped = shipped_dir()
    assert resolve_config_path("cartpole_dr.yaml") == shipped / "cartpole_dr.yaml"
    assert resolve_config_path("cartpole_dr") == shipped / "cartpole_dr.yaml"
    assert (
        resolve_config_path("cartpole_dr.yaml", kind="randomization")
        == shipped / "randomization" / "cartpole_dr.yaml"
    )
    local = tmp_path / "cartpole_dr.yaml"
    local.write_text("name: local\n")
    assert resolve_config_path("cartpole_dr.yaml", base_dir=tmp_path) == local
    with pytest.raises(UserError, match="no experiment file 'nope.yaml'.*cartpole_dr.yaml"):
        resolve_config_path("nope.yaml")
    with pytest.raises(UserError, match="is a directory; expected a YAML experiment file"):
        resolve_config_path(tmp_path)


def test_shipped_configs_dir_has_the_experiments():
    names = {path.name for path in Path(shipped_dir()).glob("*.yaml")}
    assert {
        "cartpole_dr.yaml",
        "cartpole_nominal.yaml",
        "hopper_dr_ppo.yaml",
        "hopper_dr_sac.yaml",
    } <= names


def test_spec_files_read_scientific_notation_like_configs(tmp_path: Path) -> None:
    """Regression: spec files were read with yaml.safe_load, which reads 1e-2 as a string."""
    from sim2real.randomization import load_spec

    path = tmp_path / "spec.yaml"
    path.write_text(
        "terms:\n  - {parameter: observation_noise_std, range: [0, 1e-2], operation: abs}\n"
    )
    (term,) = load_spec(path).terms
    assert (term.distribution.low, term.distribution.high) == (0.0, 0.01)


def test_spec_lookup_finds_shipped_specs_without_suffix() -> None:
    from sim2real.randomization import load_spec

    assert load_spec("cartpole_dr").source.endswith("randomization/cartpole_dr.yaml")
    with pytest.raises(UserError, match="shipped randomization files: .*cartpole_dr.yaml"):
        load_spec("no_such_spec.yaml")
