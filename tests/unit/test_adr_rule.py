"""Automatic domain randomization without PyBullet: the update rule on scripted returns (exact
bounds), boundary sampling, the specs handed to the envs, entropy, state round trip and the
invariants (hard limits, nominal inside) under any sequence of returns."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim2real.errors import UserError
from sim2real.randomization import parse_spec
from sim2real.transfer.adr import (
    DISTRIBUTION,
    ENTROPY_FLOOR,
    AdrParameter,
    Assignment,
    AutomaticDR,
    initial_bounds,
    make_parameters,
    parameter_names,
)


@dataclass(frozen=True)
class Settings:
    threshold_high: float = 10.0
    threshold_low: float = 5.0
    boundary_probability: float = 0.5
    buffer_size: int = 2


SPEC = parse_spec(
    [
        {"parameter": "link_mass", "selector": "pole", "range": [0.5, 2.0]},
        {"parameter": "gravity", "distribution": "normal", "mean": 1.0, "std": 0.1},
        {"parameter": "action_latency_s", "operation": "abs", "range": [0.0, 0.06]},
        {"parameter": "joint_damping", "value": 2.0},
        {"event": "push_velocity", "range": [-0.5, 0.5], "interval_s": 2.0},
    ],
    source="spec.yaml",
)
CENTERS = {0: 1.0, 2: 0.0}


def make_adr(settings: Settings = Settings(), **kwargs) -> AutomaticDR:
    parameters = make_parameters(SPEC, CENTERS, 0.25 / 1.5, {}, **kwargs)
    return AutomaticDR(SPEC, parameters, settings)


def feed(adr: AutomaticDR, name: str, side: str, returns: list[float]):
    """Run ``returns`` as boundary episodes of one bound; the last decision."""
    decision = None
    for value in returns:
        decision = adr.record(Assignment(name, side, adr.bound(name, side)), value)
    return decision


def test_parameters_names_steps_and_centers():
    assert parameter_names(SPEC) == {0: "link_mass:pole", 2: "action_latency_s"}
    pole, latency = make_parameters(SPEC, CENTERS, 0.1, {"link_mass:pole": 0.3}, {2: 0.02})
    assert pole == AdrParameter("link_mass:pole", 0, 1.0, 0.5, 2.0, 0.3)
    # 10% of 0.06 s is 0.006 s: rounded to one whole 0.02 s control step.
    assert latency == AdrParameter("action_latency_s", 2, 0.0, 0.0, 0.06, 0.02)
    assert (pole.movable_sides, latency.movable_sides) == (("low", "high"), ("high",))
    (outside,) = make_parameters(
        parse_spec([{"parameter": "gravity", "range": [1.1, 1.5]}]), {0: 1.0}, 0.5, {}
    )
    assert outside.center == 1.1  # the nominal draw is clipped into the hard limits


def test_duplicate_names_get_the_term_index():
    spec = parse_spec(
        [
            {"parameter": "link_mass", "range": [0.5, 2.0], "when": "startup"},
            {"parameter": "link_mass", "range": [0.9, 1.1]},
        ]
    )
    assert parameter_names(spec) == {0: "link_mass#0", 1: "link_mass#1"}


def test_bounds_follow_a_scripted_sequence_of_returns_exactly():
    adr = make_adr()
    name = "link_mass:pole"
    assert adr.bounds[name] == [1.0, 1.0]  # starts at nominal
    assert feed(adr, name, "high", [12.0]) is None  # buffer not full yet
    decision = feed(adr, name, "high", [8.0])  # mean 10 >= threshold_high: out by 0.25
    assert (decision.move, decision.mean_return, decision.before, decision.after) == (
        "out",
        10.0,
        1.0,
        1.25,
    )
    assert adr.buffers[name]["high"] == []  # cleared after the decision
    for expected in (1.5, 1.75, 2.0, 2.0):  # the hard limit holds
        feed(adr, name, "high", [20.0, 20.0])
        assert adr.bounds[name] == [1.0, expected]
    assert feed(adr, name, "high", [0.0, 4.0]).move == "in"  # mean 2 <= threshold_low
    assert adr.bounds[name] == [1.0, 1.75]
    decision = feed(adr, name, "high", [7.0, 8.0])  # between the thresholds: stays, cleared
    assert decision.move == "stay" and adr.bounds[name] == [1.0, 1.75]
    assert adr.buffers[name]["high"] == []
    for expected in (0.75, 0.5, 0.5):
        feed(adr, name, "low", [10.0, 11.0])
        assert adr.bounds[name] == [expected, 1.75]
    for expected in (0.75, 1.0, 1.0):  # moving in never crosses nominal
        feed(adr, name, "low", [0.0, 0.0])
        assert adr.bounds[name] == [expected, 1.75]


def test_quantized_latency_moves_in_whole_steps():
    adr = make_adr(quanta={2: 0.02})
    for expected in (0.02, 0.04, 0.06, 0.06):
        feed(adr, "action_latency_s", "high", [50.0, 50.0])
        assert adr.bounds["action_latency_s"] == [0.0, expected]


def test_returns_of_a_moved_bound_and_of_plain_episodes_are_dropped():
    adr = make_adr()
    stale = Assignment("link_mass:pole", "high", 1.0)
    feed(adr, "link_mass:pole", "high", [20.0, 20.0])  # the bound moves to 1.25
    assert adr.record(stale, 0.0) is None
    assert adr.record(DISTRIBUTION, 0.0) is None
    assert adr.buffers["link_mass:pole"] == {"low": [], "high": []}


def test_boundary_sampling_rate_and_movable_sides():
    adr = make_adr(Settings(boundary_probability=0.3))
    rng = np.random.default_rng(0)
    draws = [adr.sample_assignment(rng) for _ in range(4000)]
    pinned = [a for a in draws if a.is_boundary]
    assert len(pinned) / len(draws) == pytest.approx(0.3, abs=0.03)
    sides = {(a.parameter, a.side) for a in pinned}
    # The latency's nominal (0 s) is its hard low: only its high bound can move.
    assert sides == {
        ("link_mass:pole", "low"),
        ("link_mass:pole", "high"),
        ("action_latency_s", "high"),
    }
    assert all(a.value == adr.bound(a.parameter, a.side) for a in pinned)


def test_episode_spec_pins_one_bound_and_keeps_the_other_terms():
    adr = make_adr()
    adr.bounds["link_mass:pole"] = [0.75, 1.5]
    spec = adr.episode_spec()
    pole, gravity, latency, damping = spec.terms
    assert (pole.distribution.kind, pole.distribution.low, pole.distribution.high) == (
        "uniform",
        0.75,
        1.5,
    )
    assert (latency.distribution.low, latency.distribution.high) == (0.0, 0.0)
    assert (gravity, damping) == (SPEC.terms[1], SPEC.terms[3])
    assert spec.events == SPEC.events
    pinned = adr.episode_spec(Assignment("link_mass:pole", "low", 0.75)).terms[0]
    assert (pinned.distribution.low, pinned.distribution.high) == (0.75, 0.75)
    assert pinned.selector == ("pole",) and pinned.operation == "scale"


def test_initial_bounds_are_a_fraction_of_the_way_to_each_limit():
    parameters = make_parameters(SPEC, CENTERS, 0.1, {})
    assert initial_bounds(parameters, 0.0) == {
        "link_mass:pole": (1.0, 1.0),
        "action_latency_s": (0.0, 0.0),
    }
    assert initial_bounds(parameters, 0.5) == {
        "link_mass:pole": (0.75, 1.5),
        "action_latency_s": (0.0, 0.03),
    }
    assert initial_bounds(parameters, 1.0) == {
        "link_mass:pole": (0.5, 2.0),
        "action_latency_s": (0.0, 0.06),
    }
    quantized = initial_bounds(parameters, 0.5, {2: 0.02})  # 0.03 s -> 2 steps of 0.02 s
    assert quantized["action_latency_s"] == (0.0, 0.04)


def test_entropy_sums_log_widths_with_zero_width_floored():
    adr = make_adr()
    floor_pole, floor_latency = ENTROPY_FLOOR * 1.5, ENTROPY_FLOOR * 0.06
    assert adr.entropy() == pytest.approx(math.log(floor_pole) + math.log(floor_latency))
    adr.bounds["link_mass:pole"] = [0.75, 1.5]
    adr.bounds["action_latency_s"] = [0.0, 0.04]
    assert adr.entropy() == pytest.approx(math.log(0.75) + math.log(0.04))
    assert adr.width_fraction() == pytest.approx((0.75 / 1.5 + 0.04 / 0.06) / 2)


def test_state_round_trips_and_damage_is_one_line():
    adr = make_adr()
    feed(adr, "link_mass:pole", "high", [20.0, 20.0])
    feed(adr, "link_mass:pole", "low", [3.0])
    state = adr.state_dict()
    again = AutomaticDR.from_state(SPEC, Settings(), state, "adr.json")
    assert again.bounds == adr.bounds and again.buffers == adr.buffers
    assert again.parameters == adr.parameters
    state["bounds"]["link_mass:pole"] = [1.25, 2.0]  # excludes nominal
    with pytest.raises(UserError, match=r"adr.json: bounds of link_mass:pole .* damaged"):
        AutomaticDR.from_state(SPEC, Settings(), state, "adr.json")
    with pytest.raises(UserError, match=r"^adr.json: not an ADR state"):
        AutomaticDR.from_state(SPEC, Settings(), {"bounds": {}}, "adr.json")
    for buffers in ([], {"link_mass:pole": []}, {"link_mass:pole": {"low": ["x"]}}):
        with pytest.raises(UserError, match=r"^adr.json: not an ADR state"):
            AutomaticDR.from_state(
                SPEC, Settings(), {**adr.state_dict(), "buffers": buffers}, "adr.json"
            )
    other = parse_spec([{"parameter": "gravity", "range": [0.9, 1.1]}])
    with pytest.raises(UserError, match="are not those of the run's randomization spec"):
        AutomaticDR.from_state(other, Settings(), adr.state_dict(), "adr.json")


def test_a_spec_without_ranges_is_refused():
    spec = parse_spec([{"parameter": "gravity", "value": 1.0}], source="fixed.yaml")
    with pytest.raises(UserError, match="^fixed.yaml: no uniform or log-uniform range"):
        AutomaticDR(spec, [], Settings())


@st.composite
def adr_cases(draw):
    hard_low = draw(st.floats(-5, 5))
    hard_high = hard_low + draw(st.floats(0.01, 10))
    center = draw(st.floats(hard_low - 1, hard_high + 1))
    spec = parse_spec(
        [{"parameter": "link_mass", "operation": "add", "range": [hard_low, hard_high]}]
    )
    step = draw(st.floats(0.001, 20))
    fraction = draw(st.floats(0, 1))
    (parameter,) = make_parameters(spec, {0: center}, 0.1, {"link_mass": step})
    settings = Settings(buffer_size=draw(st.integers(1, 3)))
    adr = AutomaticDR(spec, [parameter], settings, initial_bounds([parameter], fraction))
    episodes = draw(
        st.lists(st.tuples(st.sampled_from(["low", "high"]), st.floats(-100, 100)), max_size=60)
    )
    return adr, episodes


@given(adr_cases())
def test_bounds_stay_within_the_hard_limits_and_around_nominal(case):
    adr, episodes = case
    parameter = adr.parameters["link_mass"]
    for side, episode_return in episodes:
        adr.record(Assignment("link_mass", side, adr.bound("link_mass", side)), episode_return)
        low, high = adr.bounds["link_mass"]
        assert parameter.hard_low <= low <= parameter.center <= high <= parameter.hard_high
    assert math.isfinite(adr.entropy())


def test_a_given_latency_step_is_rounded_to_whole_steps():
    for step, expected in ((0.001, 0.02), (0.05, 0.04), (0.031, 0.04)):
        _, latency = make_parameters(SPEC, CENTERS, 0.1, {"action_latency_s": step}, {2: 0.02})
        assert latency.step == pytest.approx(expected)
