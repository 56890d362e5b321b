"""Config checks that make the env once: shipped configs, binding, round trip, SB3 kwargs."""

from __future__ import annotations

import gymnasium as gym
import pytest
import torch
import yaml

from sim2real.config import config_to_dict, load_config, parse_config, sb3_kwargs
from sim2real.errors import UserError
from sim2real.hyperparams import algorithm_class
from sim2real.resources import shipped_dir

SHIPPED = ("cartpole_dr.yaml", "cartpole_nominal.yaml", "hopper_dr_ppo.yaml", "hopper_dr_sac.yaml")
TARGET_NAMES = ["heavy", "slippery", "weak_motors", "laggy", "noisy_sensors", "hard"]


def dump_and_reload(cfg, tmp_path, name="dump.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
    return load_config(path)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_configs_load_with_all_their_targets(name):
    cfg = load_config(name)
    assert [t.name for t in cfg.targets] == TARGET_NAMES
    assert all(t.env_id == cfg.env.id for t in cfg.targets)
    assert bool(cfg.randomization) == (name != "cartpole_nominal.yaml")


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_configs_round_trip(name, tmp_path):
    cfg = load_config(name)
    again = dump_and_reload(cfg, tmp_path)
    assert again == cfg
    assert config_to_dict(again) == config_to_dict(cfg)


def test_every_field_is_written_in_declaration_order():
    cfg = load_config("cartpole_dr.yaml")
    data = config_to_dict(cfg)
    assert list(data) == list(type(cfg).model_fields)
    assert data["targets"] == [str(t.path) for t in cfg.targets]
    assert data["randomization"]["source"] == cfg.randomization.source


def test_round_trip_keeps_overrides_inline_terms_and_tuples(tmp_path):
    cfg = parse_config(
        {
            "name": "inline",
            "env": {"id": "sim2real/CartPole-v0"},
            "randomization": [
                {
                    "parameter": "gravity",
                    "distribution": "normal",
                    "mean": 1.0,
                    "std": 0.05,
                    "range": [0.8, 1.2],
                },
                {"parameter": "link_mass", "selector": "pole", "value": 2.0, "when": "startup"},
                {"parameter": "motor_strength", "distribution": "log_uniform", "range": [0.5, 2]},
                {
                    "parameter": "action_noise_std",
                    "operation": "abs",
                    "range": [0, 0.1],
                    "when": "interval",
                    "interval_s": 0.5,
                    "shared": True,
                },
            ],
            "targets": ["cartpole_heavy.yaml"],
            "algorithm": {
                "name": "SAC",
                "hyperparams": {"train_freq": [1, "episode"], "learning_rate": "lin_1e-3"},
            },
            "normalize": True,
            "total_timesteps": 1e4,
        },
        source="inline.yaml",
    )
    assert cfg.algorithm.hyperparams["train_freq"] == (1, "episode")
    assert cfg.normalize.observations and cfg.normalize.rewards
    assert cfg.total_timesteps == 10_000
    assert dump_and_reload(cfg, tmp_path) == cfg


def test_overrides_reach_the_config():
    cfg = load_config(
        "cartpole_dr.yaml",
        ["n_envs=4", "algorithm.hyperparams.learning_rate=1e-3", "randomization=null"],
    )
    assert cfg.n_envs == 4
    assert cfg.algorithm.hyperparams["learning_rate"] == 1e-3
    assert not cfg.randomization


def test_randomization_file_that_does_not_bind(tmp_path):
    (tmp_path / "dr.yaml").write_text(
        "terms: [{parameter: link_mass, selector: wheel, range: [0.5, 2.0]}]\n"
    )
    (tmp_path / "exp.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "x",
                "env": {"id": "sim2real/CartPole-v0"},
                "randomization": "dr.yaml",
                "algorithm": {"name": "PPO"},
                "total_timesteps": 100,
            }
        )
    )
    with pytest.raises(UserError) as caught:
        load_config(tmp_path / "exp.yaml")
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'exp.yaml'}: field 'randomization'")
    assert "dr.yaml: term 0 (link_mass): field 'selector' = 'wheel' matches nothing" in message


def test_parameter_the_env_lacks(tmp_path):
    data = {
        "name": "x",
        "env": {"id": "sim2real/CartPole-v0"},
        "randomization": [{"parameter": "lateral_friction", "range": [0.5, 1.0]}],
        "algorithm": {"name": "PPO"},
        "total_timesteps": 100,
    }
    with pytest.raises(UserError, match="^exp.yaml: randomization: term 0 .*not randomizable"):
        parse_config(data, source="exp.yaml")


def test_target_with_rounded_latency_is_refused(tmp_path):
    (tmp_path / "lag.yaml").write_text(
        "name: lag\nenv_id: sim2real/CartPole-v0\n"
        "terms: [{parameter: action_latency_s, operation: abs, value: 0.03}]\n"
    )
    data = {
        "name": "x",
        "env": {"id": "sim2real/CartPole-v0"},
        "targets": ["lag.yaml"],
        "algorithm": {"name": "PPO"},
        "total_timesteps": 100,
    }
    with pytest.raises(UserError, match=r"^exp.yaml: field 'targets\[0\]'.*control step"):
        parse_config(data, source="exp.yaml", base_dir=tmp_path)


def test_unknown_env_kwargs():
    data = {
        "name": "x",
        "env": {"id": "sim2real/CartPole-v0", "kwargs": {"colour": "red"}},
        "algorithm": {"name": "PPO"},
        "total_timesteps": 100,
    }
    with pytest.raises(
        UserError, match="^exp.yaml: field 'env.kwargs.colour' = 'red'; not an argument of .*"
    ):
        parse_config(data, source="exp.yaml")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"render_mode": "human"}, "'human'; not a render mode of .*; valid: null, rgb_array$"),
        (
            {"max_episode_steps": 5},
            "= 5; not an argument of .*; valid: render_mode, privileged, actuator$",
        ),
        ({"randomization": "x.yaml"}, "set the top-level 'randomization' field instead$"),
        ({"privileged": 5}, "expected true, false or a randomization spec whose ranges"),
    ],
)
def test_env_kwargs_the_env_would_fail_on_are_refused_with_the_valid_ones(kwargs, message):
    data = {
        "name": "x",
        "env": {"id": "sim2real/CartPole-v0", "kwargs": kwargs},
        "algorithm": {"name": "PPO"},
        "total_timesteps": 100,
    }
    with pytest.raises(UserError, match=f"^exp.yaml: field 'env.kwargs.{next(iter(kwargs))}' = "):
        parse_config(data, source="exp.yaml")
    with pytest.raises(UserError, match=message):
        parse_config(data, source="exp.yaml")


def test_rgb_array_rendering_is_accepted():
    data = {
        "name": "x",
        "env": {"id": "sim2real/CartPole-v0", "kwargs": {"render_mode": "rgb_array"}},
        "algorithm": {"name": "PPO"},
        "total_timesteps": 100,
    }
    assert parse_config(data).env.kwargs == {"render_mode": "rgb_array"}


@pytest.mark.parametrize(
    ("algorithm", "policy", "needs", "valid"),
    [
        ("PPO", "MultiInputPolicy", "Dict", "MlpPolicy"),
        ("SAC", "CnnPolicy", "image", "MlpPolicy"),
        ("RecurrentPPO", "MultiInputLstmPolicy", "Dict", "MlpLstmPolicy"),
    ],
)
def test_a_policy_that_cannot_read_the_observations_is_refused(algorithm, policy, needs, valid):
    data = {
        "name": "x",
        "env": {"id": "sim2real/Hopper-v0"},
        "algorithm": {"name": algorithm, "policy": policy},
        "total_timesteps": 100,
    }
    pattern = (
        f"^exp.yaml: field 'algorithm.policy' = '{policy}'; {policy} needs {needs}.*"
        f"the env's are Box\\(15,\\); valid: {valid}$"
    )
    with pytest.raises(UserError, match=pattern):
        parse_config(data, source="exp.yaml")


@pytest.mark.parametrize("name", SHIPPED)
def test_sb3_accepts_the_shipped_hyperparameters(name):
    """The kwargs build a real model: SB3 itself agrees with the validation."""
    cfg = load_config(name, ["algorithm.hyperparams.buffer_size=1000"] if "sac" in name else [])
    env = gym.make(cfg.env.id)
    try:
        kwargs = sb3_kwargs(cfg.algorithm)
        model = algorithm_class(cfg.algorithm.name)(
            cfg.algorithm.policy, env, seed=0, device="cpu", **kwargs
        )
        schedule_value = model.lr_schedule(0.5)
        hp = cfg.algorithm.hyperparams
        if name.startswith("hopper"):
            assert model.use_sde
        if name == "hopper_dr_ppo.yaml":
            assert isinstance(model.policy.mlp_extractor.policy_net[1], torch.nn.ReLU)
            assert model.clip_range(0.5) == pytest.approx(0.2)
            assert schedule_value == pytest.approx(3e-5)
        elif name == "hopper_dr_sac.yaml":
            assert schedule_value == pytest.approx(7.3e-4 / 2)
        else:
            assert schedule_value == pytest.approx(hp["learning_rate"])
    finally:
        env.close()


def test_shipped_dir_is_the_repo_configs():
    assert (shipped_dir() / "randomization" / "cartpole_dr.yaml").is_file()
    assert (shipped_dir() / "randomization" / "hopper_dr.yaml").is_file()


def test_objects_are_accepted_in_place_of_files():
    cfg = load_config("cartpole_dr.yaml")
    data = config_to_dict(cfg)
    data["randomization"] = cfg.randomization
    data["targets"] = list(cfg.targets)
    assert parse_config(data, source="objects") == cfg


@pytest.mark.parametrize(
    ("hyperparams", "expected"),
    [
        ({"policy_kwargs": {"optimizer_kwargs": {"bogus": 1}}}, "Adam.__init__() got an unexp"),
        ({"rollout_buffer_kwargs": {"bogus": 1}}, "RolloutBuffer.__init__() got an unexpected"),
    ],
)
def test_keywords_sb3_passes_on_are_refused_in_one_line_before_training(hyperparams, expected):
    from sim2real.training import untrained_model

    cfg = load_config("cartpole_dr.yaml", [f"algorithm.hyperparams={hyperparams}"])
    with pytest.raises(UserError, match="stable-baselines3 rejected the hyperparameters") as error:
        untrained_model(cfg, "cpu", "exp.yaml")
    assert expected in str(error.value) and "\n" not in str(error.value)


def test_a_model_rebuilt_to_predict_does_not_warn_about_its_batch_size(recwarn):
    """Built on one env, a config sized for 8 (batch_size > n_steps) would make SB3 warn that
    its mini-batches are truncated: the rebuilt model only predicts, so nothing is said."""
    from sim2real.training import untrained_model

    cfg = load_config("cartpole_dr.yaml", ["algorithm.hyperparams.batch_size=512"])
    assert cfg.algorithm.hyperparams["n_steps"] < 512 <= cfg.n_envs * 256
    untrained_model(cfg, "cpu", "exp.yaml")
    assert not [w for w in recwarn if "mini-batch" in str(w.message)]
