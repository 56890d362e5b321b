"""Sanity limits: the absurd is refused in one line naming the limit, the large is a warning."""

from __future__ import annotations

import copy
import warnings

import pytest

from sim2real import limits
from sim2real.config import parse_config
from sim2real.errors import UserError
from sim2real.limits import LargeValueWarning

BASE = {
    "name": "unit",
    "env": {"id": "sim2real/CartPole-v0"},
    "algorithm": {"name": "PPO", "hyperparams": {"n_steps": 64, "batch_size": 64}},
    "total_timesteps": 1000,
}


def with_(**changes) -> dict:
    data = copy.deepcopy(BASE)
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        node = data
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    return data


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"total_timesteps": 1e30}, r"field 'total_timesteps' = 1e\+30; must be <= 10,000,000,000"),
        ({"n_envs": 100_000_000}, r"field 'n_envs' = 100,000,000; must be <= 1,024"),
        ({"seed": 2**40}, r"field 'seed' = 1,099,511,627,776; must be <= 2,147,483,647"),
        ({"evaluation": {"episodes": 10**9}}, r"field 'evaluation.episodes' = .*<= 100,000"),
        ({"checkpoint": {"keep": 10**6}}, r"field 'checkpoint.keep' = 1,000,000; must be <="),
        (
            {"algorithm__hyperparams__n_steps": 2 * 10**8},
            r"field 'algorithm.hyperparams.n_steps' \* n_envs = 200,000,000; must be <=",
        ),
        (
            {"algorithm__hyperparams__n_epochs": 10**6},
            r"field 'algorithm.hyperparams.n_epochs' = 1,000,000; must be <= 10,000",
        ),
    ],
)
def test_absurd_sizes_are_refused_with_the_limit(changes, message):
    with pytest.raises(UserError, match=f"^exp.yaml: {message}") as caught:
        parse_config(with_(**changes), source="exp.yaml")
    assert "\n" not in str(caught.value)


def test_an_absurd_replay_buffer_is_refused():
    data = with_(algorithm={"name": "SAC", "hyperparams": {"buffer_size": 1e12}})
    data["env"]["id"] = "sim2real/Hopper-v0"
    with pytest.raises(
        UserError, match="buffer_size' = 1,000,000,000,000; must be <= 1,000,000,000"
    ):
        parse_config(data, source="exp.yaml")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"total_timesteps": 2 * 10**8}, "total_timesteps"),
        ({"n_envs": 200, "algorithm": {"name": "A2C"}}, "n_envs"),
        ({"evaluation": {"episodes": 5000}}, "evaluation.episodes"),
    ],
)
def test_large_sizes_load_with_one_warning(changes, field):
    with pytest.warns(LargeValueWarning, match=f"^exp.yaml: field '{field}' = .* is above"):
        parse_config(with_(**changes), source="exp.yaml")


def test_ordinary_sizes_load_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error", LargeValueWarning)
        parse_config(with_(n_envs=8, total_timesteps=10**6), source="exp.yaml")


def test_check_count_names_the_option_and_the_valid_range():
    assert limits.check_count(5, limits.EPISODES, "--episodes") == 5
    with pytest.raises(UserError, match=r"^--episodes = 0; must be >= 1$"):
        limits.check_count(0, limits.EPISODES, "--episodes")
    with pytest.raises(UserError, match=r"^--episodes = 1e\+20; must be <= 100,000 \("):
        limits.check_count(10**20, limits.EPISODES, "--episodes")
    with pytest.raises(UserError, match=r"^--seed = 1.5; must be a whole number >= 0$"):
        limits.check_count(1.5, limits.SEED, "--seed", minimum=0)
    with pytest.warns(LargeValueWarning, match="^--episodes = 2,000 is above 1,000"):
        limits.check_count(2000, limits.EPISODES, "--episodes")
