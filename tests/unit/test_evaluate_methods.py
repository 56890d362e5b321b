"""Which runs ``evaluate`` and ``compare`` count as seeds of one method (no simulator)."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np

from sim2real.config import parse_config
from sim2real.evaluation.compare import LearningCurve, _labelled
from sim2real.evaluation.conditions import method_names

BASE = {
    "name": "unit",
    "env": {"id": "sim2real/CartPole-v0"},
    "algorithm": {"name": "PPO", "hyperparams": {"n_steps": 64, "batch_size": 64}},
    "total_timesteps": 1000,
}


def config(**changes):
    data = copy.deepcopy(BASE)
    data.update(changes)
    return parse_config(data, source="unit.yaml")


def test_runs_that_learned_alike_are_one_method_and_the_others_are_named_by_their_difference():
    configs = [
        config(),
        config(seed=1, evaluation={"freq_steps": 0}, checkpoint={"freq_steps": 0}),  # a seed
        config(env={"id": "sim2real/CartPole-v0", "history_steps": 2}),
        config(env={"id": "sim2real/CartPole-v0", "history_steps": 2}, seed=3),
        config(total_timesteps=8192, n_envs=4),
        config(name="other", total_timesteps=8192),  # another name: its own first
    ]
    assert method_names(configs) == [
        "unit",
        "unit",
        "unit [env.history_steps=2]",
        "unit [env.history_steps=2]",
        "unit [n_envs=4, total_timesteps=8192]",
        "other",
    ]


def test_a_long_difference_is_cut_after_three_fields():
    hyperparams = {"n_steps": 32, "batch_size": 32, "gamma": 0.9, "n_epochs": 3}
    changed = config(algorithm={"name": "PPO", "hyperparams": hyperparams})
    assert method_names([config(), changed])[1] == (
        "unit [algorithm.hyperparams.batch_size=32, algorithm.hyperparams.gamma=0.9, "
        "algorithm.hyperparams.n_epochs=3, ...]"
    )


def curve(seed: int, **options) -> LearningCurve:
    steps = np.array([0.0, 512.0])
    return LearningCurve(
        Path(f"r{seed}"),
        "src-to-heavy-lr",
        "lr",
        "heavy",
        "env",
        seed,
        1000,
        steps,
        steps,
        None,
        options={"normalization": "keep", **options},
    )


def test_compare_tells_apart_transfers_of_one_name_with_other_options():
    runs = [curve(0, lr_scale=0.1), curve(1, lr_scale=0.1), curve(2, lr_scale=0.5)]
    runs.append(curve(3, lr_scale=0.1, normalization="refit"))
    assert [run.method for run in _labelled(runs)] == [
        "src-to-heavy-lr",
        "src-to-heavy-lr",
        "src-to-heavy-lr [lr_scale=0.5]",
        "src-to-heavy-lr [normalization='refit']",
    ]
