"""Property-based: any experiment config, ``--set`` override or target file either loads or
fails with one line, and what loads does not fail later.

Documents start as the shipped ones and are mutated (wrong types, non-finite and extreme
numbers, unknown names, missing fields, duplicated keys and list items, stray bytes). A
loaded config must also give SB3 its kwargs and dump back to YAML; a loaded target must
bind, apply, reset and step to finite observations.
"""

from __future__ import annotations

import copy
import math
import warnings
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import yaml
from bad_inputs import Tally, assert_one_line, tally_fixture
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sim2real.config import ExperimentConfig, config_to_dict, load_config, parse_config, sb3_kwargs
from sim2real.errors import UserError
from sim2real.resources import read_yaml, shipped_dir
from sim2real.targets import apply_target, load_target

SETTINGS = settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
TALLY = Tally(__name__)
_write_tally = tally_fixture(TALLY)

EXPERIMENTS = sorted((shipped_dir()).glob("*.yaml"))
TARGETS = sorted((shipped_dir() / "targets").glob("*.yaml"))
BASE_CONFIGS = {path.name: read_yaml(path) for path in EXPERIMENTS}
BASE_TARGETS = {path.name: read_yaml(path) for path in TARGETS}

numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(10**20), 10**20),
    st.sampled_from([0, 1, -1, 0.5, 1e-2, 1e30, -1e30, 1e308, 2**31, 10**10 + 1, 1025]),
)
names = st.sampled_from(
    [
        "SAC", "TD3", "RecurrentPPO", "MultiInputPolicy", "CnnPolicy", "MlpLstmPolicy",
        "human", "rgb_array", "subproc", "cuda", "lin_3e-4", "lin_1e30", "lin_-1", "auto",
        "sim2real/Hopper-v0", "sim2real/Nope-v0", "link_mass", "gravity", "relu", "bogus",
        "targets/cartpole_heavy.yaml", "targets/hopper_heavy.yaml", "randomization/x.yaml",
    ]
)  # fmt: skip
junk = st.one_of(
    st.none(),
    st.booleans(),
    numbers,
    names,
    st.text(max_size=8),
    st.lists(st.one_of(numbers, names), max_size=3),
    st.dictionaries(st.one_of(names, st.text(max_size=4)), numbers, max_size=2),
)


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path into a document: mapping keys and list indices, the root included."""
    found = [prefix]
    if isinstance(node, dict):
        for key, child in node.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            found += _paths(child, (*prefix, index))
    return found


def _get(node: Any, path: tuple) -> Any:
    for part in path:
        node = node[part]
    return node


@st.composite
def mutated(draw: st.DrawFn, bases: dict[str, Any]) -> Any:
    """A shipped document with 0-3 mutations at random places."""
    document = copy.deepcopy(bases[draw(st.sampled_from(sorted(bases)))])
    for _ in range(draw(st.integers(0, 3))):
        path = draw(st.sampled_from(_paths(document)))
        action = draw(st.sampled_from(["set", "drop", "add", "duplicate", "rename"]))
        if not path:
            document = draw(junk) if action == "set" else document
            continue
        parent, last = _get(document, path[:-1]), path[-1]
        if action == "set":
            parent[last] = draw(junk)
        elif action == "drop":
            del parent[last]
        elif action == "add" and isinstance(parent, dict):
            parent[draw(st.one_of(names, st.text(max_size=6)))] = draw(junk)
        elif action == "duplicate" and isinstance(parent, list):
            parent.insert(last, copy.deepcopy(parent[last]))
        elif action == "rename" and isinstance(parent, dict):
            parent[draw(st.one_of(names, st.text(max_size=6)))] = parent.pop(last)
    return document


def _yaml_text(draw: st.DrawFn, document: Any) -> bytes:
    """The document as YAML, sometimes with a duplicated line or stray bytes inserted."""
    lines = yaml.safe_dump(document, sort_keys=False, allow_unicode=True).splitlines(True)
    text = "".join(lines).encode("utf-8")
    choice = draw(st.sampled_from(["plain", "duplicate line", "bytes"]))
    if choice == "duplicate line" and lines:
        index = draw(st.integers(0, len(lines) - 1))
        text = "".join([*lines[: index + 1], lines[index], *lines[index + 1 :]]).encode("utf-8")
    elif choice == "bytes":
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.binary(min_size=1, max_size=4)) + text[at:]
    return text


def _check_loaded_config(cfg: ExperimentConfig) -> None:
    """What a run does with a config right after loading it must not fail."""
    sb3_kwargs(cfg.algorithm)
    yaml.safe_dump(config_to_dict(cfg), sort_keys=False)


def _outcome(kind: str, value: Any, load) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # large values warn; the tally is about errors
        try:
            result = load()
        except UserError as error:
            assert_one_line(str(error))
            TALLY.record(kind, value, "refused")
            return None
    TALLY.record(kind, value, "loaded")
    return result


@SETTINGS
@given(mutated(BASE_CONFIGS))
@example({**BASE_CONFIGS["cartpole_dr.yaml"], "randomization": ""})  # once a ValueError
@example({**BASE_CONFIGS["cartpole_dr.yaml"], "env": {"id": "sim2real/CartPole-v0", "\n": 1}})
def test_any_config_document_loads_or_fails_in_one_line(document):
    cfg = _outcome(
        "config documents",
        document,
        lambda: parse_config(document, source="exp.yaml", base_dir=shipped_dir()),
    )
    if cfg is not None:
        _check_loaded_config(cfg)


@settings(SETTINGS, max_examples=150)
@given(st.data())
def test_any_config_file_loads_or_fails_in_one_line(tmp_path_factory, data):
    document = data.draw(mutated(BASE_CONFIGS))
    path = Path(tmp_path_factory.mktemp("cfg")) / "exp.yaml"
    text = _yaml_text(data.draw, document)
    path.write_bytes(text)
    for name in ("randomization", "targets"):  # the shipped relative names resolve from here
        (path.parent / name).symlink_to(shipped_dir() / name)
    cfg = _outcome("config files", text, lambda: load_config(path))
    if cfg is not None:
        _check_loaded_config(cfg)


OVERRIDE_KEYS = sorted(
    {".".join(map(str, p)) for p in _paths(BASE_CONFIGS["cartpole_dr.yaml"]) if p}
    | {"env.kwargs.render_mode", "env.kwargs.max_episode_steps", "algorithm.policy", "bogus"}
)
override_values = st.one_of(
    st.sampled_from(
        [
            "1e30", "-1", "0", ".inf", "-.inf", ".nan", "null", "[1, 2]", "{a: 1}", "{",
            "'", "1e10", "2e8", "100000000", "human", "MultiInputPolicy", "SAC", "abc",
            "[cartpole_heavy.yaml, cartpole_heavy.yaml]", "randomization/hopper_dr.yaml", "",
        ]
    ),
    st.text(max_size=10),
)  # fmt: skip


@SETTINGS
@given(
    st.lists(
        st.tuples(st.one_of(st.sampled_from(OVERRIDE_KEYS), st.text(max_size=8)), override_values),
        min_size=1,
        max_size=3,
    )
)
@example([("algorithm", "\n")])  # once a message over two lines
def test_any_set_override_loads_or_fails_in_one_line(pairs):
    overrides = [f"{key}={value}" for key, value in pairs]
    cfg = _outcome("--set overrides", overrides, lambda: load_config("cartpole_dr.yaml", overrides))
    if cfg is not None:
        _check_loaded_config(cfg)


_ENVS: dict[str, gym.Env] = {}


@pytest.fixture(scope="module", autouse=True)
def _close_envs():
    yield
    for env in _ENVS.values():
        env.close()


def _env(env_id: str) -> gym.Env:
    if env_id not in _ENVS:
        _ENVS[env_id] = gym.make(env_id)
    return _ENVS[env_id]


@SETTINGS
@given(st.data())
def test_any_target_file_loads_applies_and_steps_or_fails_in_one_line(tmp_path_factory, data):
    document = data.draw(mutated(BASE_TARGETS))
    path = Path(tmp_path_factory.mktemp("target")) / "target.yaml"
    text = _yaml_text(data.draw, document)
    path.write_bytes(text)

    def load_and_apply() -> np.ndarray:
        target = load_target(path)
        env = _env(target.env_id)
        apply_target(env, target)
        env.reset(seed=0)
        observation, *_ = env.step(np.zeros(env.action_space.shape, env.action_space.dtype))
        return observation

    observation = _outcome("target files", text, load_and_apply)
    if observation is not None:
        assert all(math.isfinite(x) for x in np.ravel(observation)), observation
