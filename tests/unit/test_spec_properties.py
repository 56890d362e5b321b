"""Property-based: any spec document, file or override either loads or fails with one line.

Documents are generated valid, then mutated (wrong types, non-finite and extreme numbers,
unknown names, missing fields, duplicates, bytes). What loads must also bind and sample to
finite, physical values: nothing accepted may crash a run later.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim2real.errors import UserError
from sim2real.randomization import PARAMETERS, DynamicsLayout, bind, parse_spec, sample
from sim2real.randomization.catalogue import range_violation
from sim2real.resources import read_yaml

LAYOUT = DynamicsLayout(
    {
        "link_mass": ("torso", "thigh"),
        "lateral_friction": ("torso", "thigh", "floor"),
        "joint_damping": ("hip",),
        "motor_strength": ("hip",),
        "gravity": ("z",),
        "action_latency_s": ("latency",),
        "observation_noise_std": ("a", "b"),
        "action_noise_std": ("hip",),
    },
    event_links=("torso", "thigh"),
)
NOMINAL = {
    "link_mass": np.array([3.5, 4.0]),
    "lateral_friction": np.array([0.8, 0.8, 0.8]),
    "joint_damping": np.array([0.1]),
    "motor_strength": np.ones(1),
    "gravity": np.array([-9.8]),
    "action_latency_s": np.zeros(1),
    "observation_noise_std": np.zeros(2),
    "action_noise_std": np.zeros(1),
}
DT = 0.02
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(10**20), 10**20),
    st.sampled_from([0, 1, -1, 0.5, 1e-2, 1e30, -1e30, 1e308]),
)
junk = st.one_of(
    st.none(),
    st.booleans(),
    st.text(max_size=8),
    st.lists(numbers, max_size=3),
    st.dictionaries(st.text(max_size=4), numbers, max_size=2),
    numbers,
)


@st.composite
def valid_terms(draw: st.DrawFn) -> dict[str, Any]:
    parameter = draw(st.sampled_from(sorted(LAYOUT.elements)))
    low = draw(st.floats(0.0, 2.0))
    high = draw(st.floats(low, 3.0))
    term: dict[str, Any] = {
        "parameter": parameter,
        "range": [low, high],
        "operation": draw(st.sampled_from(["scale", "add", "abs"])),
    }
    when = draw(st.sampled_from(["reset", "startup", "interval"]))
    term["when"] = when
    if when == "interval":
        term["interval_s"] = draw(st.floats(0.01, 5.0))
    return term


@st.composite
def valid_events(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "event": draw(st.sampled_from(["push_velocity", "push_impulse"])),
        "range": sorted([draw(st.floats(-2, 2)), draw(st.floats(-2, 2))]),
        "interval_s": sorted([draw(st.floats(0.01, 3)), draw(st.floats(0.01, 3))]),
    }


@st.composite
def mutated(draw: st.DrawFn, document: st.SearchStrategy[dict[str, Any]]) -> dict[str, Any]:
    term = dict(draw(document))
    for _ in range(draw(st.integers(0, 3))):
        action = draw(st.sampled_from(["set", "drop", "add"]))
        keys = sorted(term)
        if action == "drop" and keys:
            term.pop(draw(st.sampled_from(keys)))
        elif action == "set" and keys:
            term[draw(st.sampled_from(keys))] = draw(junk)
        else:
            term[draw(st.sampled_from([*keys, "selector", "shared", "axes", "mean", "bogus"]))] = (
                draw(junk)
            )
    return term


def assert_one_line(error: Exception) -> None:
    message = str(error)
    assert message and "\n" not in message, message
    assert "Traceback" not in message


@SETTINGS
@given(st.lists(st.one_of(mutated(valid_terms()), mutated(valid_events()), junk), max_size=4))
def test_any_spec_loads_binds_and_samples_physical_values_or_fails_in_one_line(terms):
    try:
        bound = bind(parse_spec(terms, source="spec.yaml"), LAYOUT, NOMINAL, DT)
    except UserError as error:
        assert_one_line(error)
        return
    values = sample(bound.terms, NOMINAL, np.random.default_rng(0))
    for name, array in values.items():
        assert np.all(np.isfinite(array)), (name, array)
        smallest, largest = float(array.min()), float(array.max())
        assert range_violation(PARAMETERS[name], smallest, largest) is None, (name, array)


@SETTINGS
@given(st.binary(max_size=60))
def test_any_bytes_read_as_yaml_or_fail_in_one_line(tmp_path_factory, data):
    path = Path(tmp_path_factory.mktemp("yaml")) / "file.yaml"
    path.write_bytes(data)
    try:
        read_yaml(path)
    except UserError as error:
        assert_one_line(error)
        assert str(error).startswith(str(path))


@pytest.mark.parametrize(
    ("terms", "message"),
    [
        ([{"parameter": "link_mass", "range": [0.5, math.inf]}], "must be a finite number"),
        ([{"parameter": "gravity", "value": -math.inf, "operation": "abs"}], "finite number"),
        ([{"parameter": "gravity", "value": -200.0, "operation": "abs"}], "must stay >= -100"),
        ([{"parameter": "link_mass", "value": 1e30}], "must stay <= 1e\\+06"),
        ([{"parameter": "link_mass", "value": 1e308}], "must stay finite"),
        ([{"parameter": "action_latency_s", "value": 5.0, "operation": "abs"}], "<= 1"),
        (  # observations overflow to inf under noise this large
            [{"parameter": "observation_noise_std", "range": [0, 1e300], "operation": "abs"}],
            "observation_noise_std = 1e\\+300 after 'abs'; it must stay <= 100",
        ),
        ([{"parameter": "action_noise_std", "value": 1e9, "operation": "abs"}], "<= 100"),
        (
            [
                {"parameter": "link_mass", "range": [0.5, 1.5]},
                {"parameter": "link_mass", "selector": "thigh", "range": [0.9, 1.1]},
            ],
            "terms 0 and 1 both randomize link_mass of 'thigh'",
        ),
        (
            [
                {"parameter": "motor_strength", "range": [0.5, 1.5]},
                {
                    "parameter": "motor_strength",
                    "range": [0.9, 1.1],
                    "when": "interval",
                    "interval_s": 1.0,
                },
            ],
            "terms 0 and 1 both randomize motor_strength",
        ),
    ],
)
def test_values_a_run_would_die_on_are_refused_at_load(terms, message):
    with pytest.raises(UserError, match=message) as caught:
        bind(parse_spec(terms, source="spec.yaml"), LAYOUT, NOMINAL, DT)
    assert_one_line(caught.value)


def test_startup_and_reset_terms_may_stack_on_one_element():
    spec = [
        {"parameter": "link_mass", "range": [0.5, 1.5], "when": "startup"},
        {"parameter": "link_mass", "range": [0.9, 1.1]},
    ]
    assert len(bind(parse_spec(spec), LAYOUT, NOMINAL, DT).terms) == 2


def test_numpy_numbers_are_numbers():
    spec = parse_spec([{"parameter": "link_mass", "range": [np.float32(0.5), np.int64(2)]}])
    assert spec.terms[0].distribution.high == 2.0


def test_duplicate_yaml_keys_and_non_utf8_are_one_line_errors(tmp_path):
    dup = tmp_path / "dup.yaml"
    dup.write_text("terms:\n  - {parameter: link_mass, range: [1, 2], range: [3, 4]}\n")
    with pytest.raises(UserError, match=r"dup.yaml: not valid YAML \(duplicate key 'range'"):
        read_yaml(dup)
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(UserError, match=r"latin.yaml: not UTF-8 text \(byte 0xe9"):
        read_yaml(latin)
