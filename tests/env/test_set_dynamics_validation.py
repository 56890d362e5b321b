"""``set_dynamics`` and ``set_randomization`` validate like files do, before changing anything."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim2real.envs.cartpole import CartPoleEnv
from sim2real.errors import UserError
from sim2real.randomization.apply import read_simulator_dynamics

NOMINAL = {
    "link_mass": {"cart": 1.0, "pole": 0.1},
    "joint_damping": {"slider_to_cart": 0.5, "cart_to_pole": 0.005},
    "motor_strength": 1.0,
    "joint_friction": 0.0,
    "gravity": -9.8,
    "action_latency_s": 0.0,
    "observation_noise_std": 0.0,
    "action_noise_std": 0.0,
}


@pytest.fixture(scope="module")
def env():
    made = CartPoleEnv()
    made.reset(seed=0)
    assert made.get_dynamics()["link_mass"] == NOMINAL["link_mass"]
    yield made
    made.close()


def held(env) -> dict:
    return {
        k: v.tolist()
        for k, v in read_simulator_dynamics(env.client, env.handles, env.layout).items()
    }


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"link_mass": {"pole": -1.0}}, "link_mass = -1; it must stay > 0"),
        ({"link_mass": 0.0}, "must stay > 0"),
        ({"gravity": math.nan}, "gravity = nan; it must stay finite"),
        ({"action_latency_s": -0.02}, "must stay >= 0"),
        ({"action_latency_s": math.inf}, "must stay finite"),
        ({"action_latency_s": 0.03}, "not a multiple of the control step 0.02 s"),
        ({"observation_noise_std": -0.1}, "must stay >= 0"),
        ({"link_mass": "heavy"}, "field 'link_mass' = 'heavy' must be a number"),
        ({"link_mass": [1.0]}, "must hold 2 number\\(s\\), one per element: cart, pole"),
        ({"link_mass": b"\x01\x02"}, "must be a number, \\{element: number\\} or a list"),
        ({"link_mass": {"wing": 1.0}}, "unknown element 'wing'; valid: cart, pole"),
        ({"mass": 1.0}, "unknown parameter 'mass'; valid:"),
        ([1.0], "expected a mapping of parameter names"),
        ({"link_mass": {"pole": None}}, "must be a number"),
    ],
)
def test_bad_payloads_raise_one_line_and_change_nothing(env, payload, message):
    before, simulated = env.get_dynamics(), held(env)
    with pytest.raises(UserError, match=message) as caught:
        env.set_dynamics(payload)
    assert "\n" not in str(caught.value)
    assert env.get_dynamics() == before and held(env) == simulated
    env.reset()  # the env still works
    env.step(np.zeros(1, dtype=np.float32))


def test_numpy_scalars_and_arrays_are_accepted(env):
    env.set_dynamics({"link_mass": np.array([1.5, 0.2]), "gravity": np.float32(-9.0)})
    assert env.get_dynamics()["link_mass"] == {"cart": 1.5, "pole": pytest.approx(0.2)}
    assert held(env)["gravity"] == [-9.0]
    env.set_dynamics({"link_mass": {"cart": np.int64(1)}, "gravity": -9.8})
    assert env.get_dynamics()["link_mass"]["cart"] == 1.0


def test_set_randomization_with_a_bad_spec_is_a_user_error(env):
    with pytest.raises(UserError, match="must be a finite number"):
        env.set_randomization([{"parameter": "link_mass", "range": [0.5, math.inf]}])


payload_values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-5, 5),
    st.text(max_size=3),
    st.none(),
    st.lists(st.floats(-2, 2), max_size=3),
    st.dictionaries(st.sampled_from(["cart", "pole", "slider_to_cart", "x"]), st.floats(-2, 5)),
)
payloads = st.dictionaries(
    st.sampled_from(
        [
            "link_mass",
            "joint_damping",
            "motor_strength",
            "gravity",
            "action_latency_s",
            "action_noise_std",
            "observation_noise_std",
            "joint_friction",
            "bogus",
        ]
    ),
    payload_values,
    max_size=3,
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(payloads)
def test_any_payload_is_simulated_as_reported_or_refused_in_one_line(env, payload):
    before = env.get_dynamics()
    try:
        env.set_dynamics(payload)
    except UserError as error:
        assert "\n" not in str(error)
        assert env.get_dynamics() == before
        return
    finally:
        env.set_dynamics({})  # no-op: still valid
    reported = env.get_dynamics()
    simulated = held(env)
    assert simulated["link_mass"] == list(reported["link_mass"].values())
    assert simulated["gravity"] == [reported["gravity"]]
    env.reset()
    observation, *_ = env.step(np.zeros(1, dtype=np.float32))
    assert np.all(np.isfinite(observation))
    env.set_dynamics(NOMINAL)
