"""Every entry shipped in policies/zoo/ loads with today's code and acts in its own world.

An entry is data made by an earlier version (weights for a network the config describes); a
change to a world's spaces, a network's layout or the loader would strand it silently, since
`zoo add` checks parity only when the entry is made.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim2real.evaluation.conditions import NOMINAL_CONDITION, make_env
from sim2real.policies.predictor import load_predictor
from sim2real.policies.zoo import MAX_ENTRY_BYTES, list_entries
from sim2real.runs import Run

ENTRIES = list_entries()


def test_the_zoo_ships_the_documented_entries():
    names = {entry.name for entry in ENTRIES}
    assert {
        "cartpole_dr",
        "hopper_dr",
        "hopper_nominal",
        "hopper_rma",
        "walker2d_dr",
        "halfcheetah_dr",
        "ant_dr",
        "a1_nominal",
        "a1_dr",
        "a1_asym",
        "a1_clip",
        "a1_clip3",
        "reacher_dr",
    } <= names


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda entry: entry.name)
def test_a_shipped_entry_loads_and_acts_in_its_world(entry):
    size = sum(path.stat().st_size for path in entry.path.rglob("*") if path.is_file())
    assert size < MAX_ENTRY_BYTES
    config = Run.open(entry.path).config
    assert config.env.id == entry.card["env_id"]
    policy = load_predictor(f"zoo:{entry.name}")
    env = make_env(config.env.id, NOMINAL_CONDITION, config.env.kwargs)
    try:
        observation, _ = env.reset(seed=0)
        for _ in range(20):
            action = policy.predict(observation, deterministic=True)
            assert env.action_space.contains(np.asarray(action, env.action_space.dtype))
            observation, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                break
    finally:
        env.close()
