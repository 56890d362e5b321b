"""The DR engine without PyBullet: parsing, validation, binding and sampling statistics."""

from __future__ import annotations

import numpy as np
import pytest

from sim2real.randomization import DynamicsLayout, SpecError, bind, parse_spec, sample
from sim2real.randomization.sampling import draw_event, draw_period
from sim2real.randomization.spec import spec_to_data

LAYOUT = DynamicsLayout(
    {
        "link_mass": ("torso", "thigh", "leg", "foot"),
        "lateral_friction": ("torso", "thigh", "leg", "foot", "floor"),
        "joint_damping": ("thigh_joint", "leg_joint", "foot_joint"),
        "motor_strength": ("thigh_joint", "leg_joint", "foot_joint"),
        "gravity": ("z",),
        "action_latency_s": ("latency",),
        "observation_noise_std": ("a", "b"),
        "action_noise_std": ("thigh_joint", "leg_joint", "foot_joint"),
    }
)
NOMINAL = {
    "link_mass": np.array([3.5, 4.0, 2.7, 5.1]),
    "lateral_friction": np.array([0.8, 0.8, 0.8, 0.8, 0.8]),
    "joint_damping": np.array([0.1, 0.1, 0.1]),
    "motor_strength": np.ones(3),
    "gravity": np.array([-9.8]),
    "action_latency_s": np.zeros(1),
    "observation_noise_std": np.zeros(2),
    "action_noise_std": np.zeros(3),
}
DT = 0.0165


def bound(terms):
    return bind(parse_spec(terms, source="spec.yaml"), LAYOUT, NOMINAL, DT)


def test_uniform_scale_stays_in_bounds_and_covers_range():
    spec = bound([{"parameter": "link_mass", "range": [0.5, 1.5]}])
    rng = np.random.default_rng(0)
    draws = np.array([sample(spec.terms, NOMINAL, rng)["link_mass"] for _ in range(4000)])
    ratios = draws / NOMINAL["link_mass"]
    assert ratios.min() >= 0.5 and ratios.max() <= 1.5
    assert abs(ratios.mean() - 1.0) < 0.02  # uniform mean
    assert abs(ratios.std() - 1 / np.sqrt(12)) < 0.01  # uniform std of a unit-wide range


def test_log_uniform_is_uniform_in_log_space():
    spec = bound(
        [{"parameter": "joint_damping", "distribution": "log_uniform", "range": [0.1, 10.0]}]
    )
    rng = np.random.default_rng(1)
    logs = np.log10([sample(spec.terms, NOMINAL, rng)["joint_damping"] / 0.1 for _ in range(4000)])
    assert logs.min() >= -1 - 1e-9 and logs.max() <= 1 + 1e-9
    assert abs(np.median(logs)) < 0.05


def test_normal_is_clipped_to_range():
    spec = bound(
        [
            {
                "parameter": "gravity",
                "distribution": "normal",
                "mean": 0.0,
                "std": 1.0,
                "range": [-0.5, 0.5],
                "operation": "add",
            }
        ]
    )
    rng = np.random.default_rng(2)
    values = np.array([sample(spec.terms, NOMINAL, rng)["gravity"][0] for _ in range(2000)])
    assert values.min() >= -10.3 - 1e-12 and values.max() <= -9.3 + 1e-12
    assert (values == -10.3).any() and (values == -9.3).any()  # clipping happened


def test_operations_are_relative_to_nominal():
    rng = np.random.default_rng(3)
    scale = sample(bound([{"parameter": "link_mass", "value": 2.0}]).terms, NOMINAL, rng)
    add = sample(
        bound([{"parameter": "link_mass", "value": 1.0, "operation": "add"}]).terms, NOMINAL, rng
    )
    absolute = sample(
        bound([{"parameter": "link_mass", "value": 1.0, "operation": "abs"}]).terms, NOMINAL, rng
    )
    np.testing.assert_array_equal(scale["link_mass"], NOMINAL["link_mass"] * 2.0)
    np.testing.assert_array_equal(add["link_mass"], NOMINAL["link_mass"] + 1.0)
    np.testing.assert_array_equal(absolute["link_mass"], np.ones(4))


def test_zero_width_range_reproduces_nominal_exactly():
    spec = bound(
        [
            {"parameter": "link_mass", "range": [1.0, 1.0]},
            {"parameter": "gravity", "range": [0.0, 0.0], "operation": "add"},
        ]
    )
    values = sample(spec.terms, NOMINAL, np.random.default_rng(4))
    for name, nominal in NOMINAL.items():
        np.testing.assert_array_equal(values[name], nominal)


def test_selector_globs_pick_elements_and_leave_others_nominal():
    spec = bound([{"parameter": "link_mass", "selector": ["t*"], "value": 2.0}])
    values = sample(spec.terms, NOMINAL, np.random.default_rng(5))["link_mass"]
    np.testing.assert_array_equal(values, NOMINAL["link_mass"] * [2, 2, 1, 1])


def test_shared_draw_is_one_value_for_all_elements():
    spec = bound([{"parameter": "motor_strength", "range": [0.5, 1.5], "shared": True}])
    values = sample(spec.terms, NOMINAL, np.random.default_rng(6))["motor_strength"]
    assert np.unique(values).size == 1


def test_same_seed_same_sequence_and_nominal_untouched():
    spec = bound(
        [
            {"parameter": "link_mass", "range": [0.5, 1.5]},
            {"parameter": "lateral_friction", "range": [0.5, 1.2]},
        ]
    )
    first = [sample(spec.terms, NOMINAL, np.random.default_rng(7)) for _ in range(1)]
    rng_a, rng_b = np.random.default_rng(8), np.random.default_rng(8)
    seq_a = [sample(spec.terms, NOMINAL, rng_a)["link_mass"] for _ in range(5)]
    seq_b = [sample(spec.terms, NOMINAL, rng_b)["link_mass"] for _ in range(5)]
    np.testing.assert_array_equal(seq_a, seq_b)
    assert first[0]["link_mass"] is not NOMINAL["link_mass"]
    np.testing.assert_array_equal(NOMINAL["link_mass"], [3.5, 4.0, 2.7, 5.1])


@pytest.mark.parametrize(
    ("terms", "message"),
    [
        ([{"parameter": "mass"}], "'mass' is not in the catalogue; valid: action_latency_s"),
        ([{"parameter": "link_mass", "range": [1.2, 0.8]}], "min > max"),
        ([{"parameter": "link_mass", "range": [0.8]}], "must be a list [min, max]"),
        ([{"parameter": "link_mass", "range": b"\x01\x02"}], "must be a list [min, max]"),
        (b"\x01", "must be a list of terms"),
        ([{"parameter": "link_mass", "rnage": [0.8, 1.2]}], "unknown field(s) ['rnage']"),
        (
            [{"parameter": "link_mass", "range": [0.8, 1.2], "operation": "mul"}],
            "field 'operation' = 'mul'; valid: scale, add, abs",
        ),
        ([{"parameter": "link_mass", "range": [0.8, 1.2], "when": "always"}], "field 'when'"),
        (
            [{"parameter": "link_mass", "range": [0.8, 1.2], "when": "interval"}],
            "'interval_s' is required",
        ),
        ([{"parameter": "link_mass", "distribution": "normal", "mean": 1.0}], "'std' is required"),
        ([{"parameter": "link_mass", "distribution": "log_uniform", "range": [0, 1]}], "> 0"),
        ([{"parameter": "link_mass", "range": ["a", 1]}], "must be a number"),
        ([{"parameter": "link_mass", "value": 1.0, "range": [1, 2]}], "cannot be combined"),
        ("link_mass", "must be a list of terms"),
    ],
)
def test_bad_specs_name_the_term_and_field(terms, message):
    with pytest.raises(SpecError) as error:
        parse_spec(terms, source="spec.yaml")
    assert "spec.yaml" in str(error.value)
    assert message in str(error.value)


@pytest.mark.parametrize(
    ("terms", "message"),
    [
        (
            [{"parameter": "link_mass", "selector": "head", "range": [0.8, 1.2]}],
            "'head' matches nothing; valid: torso, thigh, leg, foot",
        ),
        ([{"parameter": "link_mass", "range": [-0.5, 1.2]}], "must stay > 0"),
        ([{"parameter": "link_mass", "range": [-5.0, 1.0], "operation": "add"}], "must stay > 0"),
        (
            [{"parameter": "lateral_friction", "range": [-0.1, 0.5], "operation": "abs"}],
            "must stay >= 0",
        ),
        (
            [{"parameter": "joint_damping", "distribution": "normal", "mean": 1.0, "std": 0.1}],
            "needs a 'range'",
        ),
    ],
)
def test_binding_errors_name_the_term(terms, message):
    with pytest.raises(SpecError) as error:
        bound(terms)
    assert "spec.yaml: term 0" in str(error.value)
    assert message in str(error.value)


def test_parameter_missing_from_env_layout_is_rejected():
    layout = DynamicsLayout({"link_mass": ("cart", "pole")})
    spec = parse_spec([{"parameter": "lateral_friction", "range": [0.5, 1.0]}], "spec.yaml")
    with pytest.raises(SpecError, match="not randomizable in this env; valid: link_mass"):
        bind(spec, layout, {"link_mass": np.ones(2), "lateral_friction": np.ones(2)}, DT)


def test_latency_not_multiple_of_control_step_warns_with_rounding():
    with pytest.warns(UserWarning, match="rounded to 2 step"):
        bound([{"parameter": "action_latency_s", "value": 0.03, "operation": "abs"}])


def test_event_terms_parse_with_defaults_and_seeded_periods():
    spec = parse_spec([{"event": "push_velocity", "range": [-0.5, 0.5], "interval_s": [8, 12]}])
    (event,) = spec.events
    assert spec and not spec.terms
    assert (event.axes, event.when, event.selector, event.interval_s) == (
        ("x", "y"),
        "interval",
        (),
        (8.0, 12.0),
    )
    layout = DynamicsLayout(LAYOUT.elements, event_links=("torso", "thigh"))
    (bound_event,) = bind(spec, layout, NOMINAL, DT).events
    assert bound_event.links == ("torso",)  # default: the base
    draws = [draw_event(bound_event, np.random.default_rng(s))[0][1] for s in range(200)]
    assert all(d[2] == 0.0 and -0.5 <= d[0] <= 0.5 for d in draws)
    periods = [draw_period((8.0, 12.0), np.random.default_rng(s)) for s in range(200)]
    assert 8.0 <= min(periods) < 8.5 and 11.5 < max(periods) <= 12.0
    assert draw_period((2.0, 2.0), np.random.default_rng(0)) == 2.0


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"event": "kick", "value": 1, "interval_s": 1}, "'event' = 'kick'.*valid: push_impulse"),
        ({"event": "push_impulse", "value": 1}, "'interval_s' is required"),
        ({"event": "push_impulse", "value": 1, "when": "reset", "interval_s": 1}, "only valid"),
        ({"event": "push_impulse", "value": 1, "interval_s": [2, 1]}, "min > max"),
        ({"event": "push_impulse", "value": 1, "interval_s": 0}, "must be > 0"),
        ({"event": "push_impulse", "value": 1, "interval_s": 1, "axes": ["w"]}, "'axes'"),
        ({"event": "push_impulse", "value": 1, "interval_s": 1, "when": "startup"}, "'when'"),
        ({"event": "push_impulse", "value": 1, "interval_s": 1, "operation": "add"}, "unknown"),
    ],
)
def test_bad_event_terms_fail_with_one_line(raw, message):
    with pytest.raises(SpecError, match=message):
        parse_spec([raw], source="spec.yaml")


def test_specs_round_trip_through_plain_data_events_included():
    spec = parse_spec(
        [
            {"parameter": "link_mass", "selector": "torso", "range": [0.5, 1.5]},
            {"parameter": "gravity", "value": -9.0, "operation": "abs", "when": "startup"},
            {
                "parameter": "motor_strength",
                "distribution": "normal",
                "mean": 1,
                "std": 0.1,
                "range": [0.5, 1.5],
                "when": "interval",
                "interval_s": 2.0,
                "shared": True,
            },
            {
                "event": "push_velocity",
                "selector": "torso",
                "axes": "x",
                "range": [-1, 1],
                "interval_s": [1, 3],
            },
            {"event": "push_impulse", "value": 2.0, "when": "reset"},
        ],
        source="spec.yaml",
    )
    assert parse_spec(spec_to_data(spec), source="spec.yaml") == spec


def _one_term_at_a_time(terms, base, rng):
    """The sampling rule written plainly: each term in spec order draws with its own rng call."""
    values = {name: np.array(array, dtype=float) for name, array in base.items()}
    for bound_term in terms:
        term, distribution = bound_term.term, bound_term.term.distribution
        size = 1 if term.shared else len(bound_term.indices)
        low, high = distribution.low, distribution.high
        if low == high:
            draws = np.full(size, low)
        elif distribution.kind == "uniform":
            draws = rng.uniform(low, high, size)
        elif distribution.kind == "log_uniform":
            draws = np.exp(rng.uniform(np.log(low), np.log(high), size))
        else:
            draws = np.clip(rng.normal(distribution.mean, distribution.std, size), low, high)
        nominal = base[term.parameter][bound_term.indices]
        result = {"scale": nominal * draws, "add": nominal + draws}.get(term.operation)
        values[term.parameter][bound_term.indices] = draws if result is None else result
    return values


def test_vectorized_sampler_draws_what_one_call_per_term_draws():
    """The reset path draws runs of terms in one generator call: the same numbers, in order."""
    spec = bound(
        [
            {"parameter": "link_mass", "selector": ["torso", "leg"], "range": [0.5, 1.5]},
            {"parameter": "lateral_friction", "distribution": "log_uniform", "range": [0.5, 2]},
            {"parameter": "motor_strength", "range": [0.8, 1.2], "shared": True},
            {"parameter": "gravity", "value": 1.02},
            {"parameter": "joint_damping", "operation": "add", "range": [0.0, 0.5]},
            {
                "parameter": "action_noise_std",
                "distribution": "normal",
                "mean": 0.05,
                "std": 0.02,
                "range": [0.0, 0.1],
                "operation": "abs",
            },
            {"parameter": "action_latency_s", "operation": "abs", "range": [0.0, 0.033]},
            {"parameter": "link_mass", "selector": ["thigh"], "value": 1.1},
        ]
    )
    sampler_rng, reference_rng = np.random.default_rng(11), np.random.default_rng(11)
    for _ in range(20):
        values = sample(spec.terms, NOMINAL, sampler_rng)
        expected = _one_term_at_a_time(spec.terms, NOMINAL, reference_rng)
        for name in NOMINAL:
            np.testing.assert_allclose(values[name], expected[name], rtol=1e-12, err_msg=name)
    untouched = sample(spec.terms, NOMINAL, sampler_rng)
    assert untouched["observation_noise_std"] is NOMINAL["observation_noise_std"]


class _RecordingClient:
    """Stands in for PyBullet: records writes, answers the inertia field's reads."""

    def __init__(self):
        self.calls: list[tuple] = []

    def changeDynamics(self, body, index, **keywords):  # noqa: N802  (PyBullet's name)
        self.calls.append(("changeDynamics", body, index, keywords))

    def setGravity(self, x, y, z):  # noqa: N802
        self.calls.append(("setGravity", z))

    def getDynamicsInfo(self, body, index):  # noqa: N802
        return (2.0, 0.8, (1.0, 1.0, 1.0))


def test_apply_merges_a_parts_keywords_into_one_call_and_writes_inertia_after_mass():
    from sim2real.randomization.apply import ModelHandles, apply_dynamics
    from sim2real.randomization.catalogue import BodyPart

    links = (BodyPart("torso", 1, 0), BodyPart("thigh", 1, 1))
    handles = ModelHandles(
        links=links, joints=(BodyPart("thigh_joint", 1, 1),), floor=BodyPart("floor", 0, -1)
    )
    applied = {
        "link_mass": np.array([2.0, 2.0]),
        "link_inertia": np.array([1.0, 1.0]),
        "lateral_friction": np.array([0.8, 0.8, 0.8]),
        "joint_damping": np.array([0.0]),
        "gravity": np.array([-9.8]),
    }
    values = {
        "link_mass": np.array([2.0, 3.0]),  # thigh changes
        "link_inertia": np.array([1.0, 1.5]),
        "lateral_friction": np.array([0.8, 0.6, 0.5]),  # thigh and floor change
        "joint_damping": np.array([0.2]),  # the thigh joint's child link is the thigh
        "gravity": applied["gravity"],  # the same array: skipped unexamined
    }
    client = _RecordingClient()
    apply_dynamics(client, handles, values, applied)
    merged = [call for call in client.calls if call[0] == "changeDynamics"]
    assert merged[0] == (
        "changeDynamics",
        1,
        1,
        {"mass": 3.0, "lateralFriction": 0.6, "jointDamping": 0.2},
    )
    assert merged[1] == ("changeDynamics", 0, -1, {"lateralFriction": 0.5})
    # The inertia scale is written last, from the mass just written (the client says 2.0 kg).
    assert merged[2][:3] == ("changeDynamics", 1, 1) and "localInertiaDiagonal" in merged[2][3]
    assert len(client.calls) == 3


def test_a_target_file_given_as_a_spec_is_named_as_one():
    target = {"name": "weak", "env_id": "sim2real/Hopper-v0", "terms": []}
    with pytest.raises(SpecError, match=r"^t.yaml: is a target file, not a randomization spec; "):
        parse_spec(target, source="t.yaml")
    with pytest.raises(SpecError, match=r"unknown key\(s\) \['name'\]; valid keys"):
        parse_spec({"name": "weak", "terms": []}, source="t.yaml")


@pytest.mark.parametrize("text", ["", "# terms to come\n"])
def test_an_empty_spec_file_is_refused_and_an_empty_terms_list_is_a_spec(text, tmp_path):
    """An empty file is more likely truncated than meant; 'terms: []' says no terms. Both as
    a file of its own and as a config's ``randomization``."""
    from sim2real.config import parse_config
    from sim2real.errors import UserError
    from sim2real.randomization import load_spec

    path = tmp_path / "spec.yaml"
    path.write_text(text)
    empty = r"the file is empty \(or holds only comments\)"
    with pytest.raises(SpecError, match=empty):
        load_spec(path)
    config = {"name": "c", "env": {"id": "sim2real/CartPole-v0"}, "randomization": str(path)}
    config |= {"algorithm": {"name": "PPO"}, "total_timesteps": 64}
    with pytest.raises(UserError, match=rf"field 'randomization' = .*spec.yaml.*{empty}"):
        parse_config(config)
    path.write_text("terms: []\n")
    assert load_spec(path).terms == ()
    assert parse_config(config).randomization.terms == ()
