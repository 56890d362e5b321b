"""The engine's growth points: catalogue entries, set_randomization, actuators, sub-steps,
joint friction and events, checked on values that land in the simulator."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pytest

from sim2real.envs.actuators import PDActuator
from sim2real.envs.cartpole import SLIDER, CartPoleEnv
from sim2real.envs.hopper import HopperEnv
from sim2real.randomization import SpecError
from sim2real.randomization.apply import read_simulator_dynamics
from sim2real.randomization.catalogue import (
    ParameterDef,
    dynamics_info_field,
    register_parameter,
    unregister_parameter,
)


@pytest.fixture
def bounce():
    """A term a user adds: one catalogue entry, nothing else."""
    register_parameter(
        ParameterDef(
            "bounce_test",
            "link",
            "-",
            "coefficient of restitution of each link and the floor",
            0.0,
            parts="links_and_floor",
            field=dynamics_info_field(5, "restitution"),
        )
    )
    yield "bounce_test"
    unregister_parameter("bounce_test")


def test_a_new_catalogue_entry_is_read_sampled_written_and_reported(bounce):
    env = HopperEnv(randomization=[{"parameter": bounce, "range": [0.1, 0.3], "operation": "abs"}])
    try:
        assert env.layout.names(bounce)[-1] == "floor"
        assert env.nominal[bounce][-1] == 0.5  # plane_stadium's restitution, as loaded
        _, info = env.reset(seed=0)
        landed = read_simulator_dynamics(env.client, env.handles, env.layout)[bounce]
        reported = list(info["dynamics"][bounce].values())
        np.testing.assert_allclose(landed, reported)
        assert all(0.1 <= value <= 0.3 for value in reported)
    finally:
        env.close()


def test_set_randomization_applies_from_the_next_reset_and_validates():
    env = CartPoleEnv()
    try:
        env.reset(seed=0)
        env.set_randomization([{"parameter": "link_mass", "selector": "pole", "value": 3.0}])
        assert env.get_dynamics()["link_mass"]["pole"] == pytest.approx(0.1)  # not yet
        _, info = env.reset()
        assert info["dynamics"]["link_mass"]["pole"] == pytest.approx(0.3)
        with pytest.raises(SpecError, match="selector"):
            env.set_randomization([{"parameter": "link_mass", "selector": "wing", "value": 2}])
        _, info = env.reset()  # the failed call left the previous spec in place
        assert info["dynamics"]["link_mass"]["pole"] == pytest.approx(0.3)
        env.set_randomization(None)
        assert env.reset()[1]["dynamics"]["link_mass"]["pole"] == pytest.approx(0.1)
    finally:
        env.close()


def test_set_randomization_redraws_startup_terms_around_fixed_values():
    env = CartPoleEnv()
    try:
        env.set_dynamics({"link_mass": {"cart": 2.0}})
        env.set_randomization([{"parameter": "link_mass", "range": [1.5, 1.5], "when": "startup"}])
        _, info = env.reset(seed=0)
        assert info["dynamics"]["link_mass"]["cart"] == pytest.approx(3.0)
        env.set_randomization([{"parameter": "link_mass", "range": [2.0, 2.0], "when": "startup"}])
        _, info = env.reset()
        assert info["dynamics"]["link_mass"]["cart"] == pytest.approx(4.0)  # not 2 * 1.5 * 2
    finally:
        env.close()


def test_joint_friction_holds_the_cart_against_a_smaller_force():
    frictions = {}
    for friction in (0.0, 5.0, 50.0):
        env = CartPoleEnv(
            randomization=[{"parameter": "joint_friction", "value": friction, "operation": "abs"}]
        )
        try:
            env.reset(seed=0)
            start = env.client.getJointState(env._body, SLIDER)[0]
            for _ in range(20):
                env.step(np.ones(1, dtype=np.float32))  # a 10 N push
            frictions[friction] = env.client.getJointState(env._body, SLIDER)[0] - start
        finally:
            env.close()
    assert frictions[0.0] > frictions[5.0] > 0.0
    assert frictions[50.0] == pytest.approx(0.0, abs=1e-3)


class PDCartPole(CartPoleEnv):
    """The cart driven to a position by a 200 Hz PD loop under a 50 Hz policy."""

    control_dt: ClassVar[float] = 0.02
    physics_steps_per_action: ClassVar[int] = 4

    def _load(self, client):
        handles = super()._load(client)
        client.setTimeStep(self.physics_dt)
        return handles

    def _make_actuator(self, client, handles):
        return PDActuator(
            client,
            self._body,
            [SLIDER],
            kp=[40.0],
            kd=[4.0],
            torque_limit=[15.0],
            default_pose=[0.0],
            action_scale=0.5,
        )


def test_pd_actuator_runs_every_physics_step_and_tracks_its_target():
    env = PDCartPole(randomization=[{"parameter": "kp", "value": 2.0}])
    try:
        assert env.physics_dt == pytest.approx(0.005)
        assert env.nominal["kp"][0] == 40.0 and env.nominal["torque_limit"][0] == 15.0
        _, info = env.reset(seed=0)
        assert info["dynamics"]["kp"]["slider_to_cart"] == 80.0
        calls = []
        pd = env.actuator.inner
        original = pd.apply
        pd.apply = lambda: (calls.append(1), original())[1]
        for _ in range(200):
            env.step(np.ones(1, dtype=np.float32))  # target: 0.5 m
        assert len(calls) == 4 * 200
        position, velocity = env.client.getJointState(env._body, SLIDER)[:2]
        assert position == pytest.approx(0.5, abs=0.05)
        q, dq = position, velocity
        expected = np.clip(80.0 * (0.5 - q) - 4.0 * dq, -15.0, 15.0)
        pd.apply()
        assert pd.torques[0] == pytest.approx(expected)
    finally:
        env.close()


def test_pd_torque_is_clipped_to_the_randomized_limit():
    env = PDCartPole(
        randomization=[{"parameter": "torque_limit", "value": 2.0, "operation": "abs"}]
    )
    try:
        env.reset(seed=0)
        env.step(np.ones(1, dtype=np.float32))
        assert abs(env.actuator.inner.torques[0]) == pytest.approx(2.0)
    finally:
        env.close()


def test_latency_is_whole_physics_steps_under_sub_stepping():
    with pytest.warns(UserWarning, match="physics step 0.005"):
        PDCartPole(
            randomization=[{"parameter": "action_latency_s", "value": 0.012, "operation": "abs"}]
        ).close()
    env = PDCartPole(
        randomization=[{"parameter": "action_latency_s", "value": 0.01, "operation": "abs"}]
    )
    try:
        env.reset(seed=0)
        assert env.actuator.commands_in_flight == 2  # 10 ms = 2 physics steps of 5 ms
    finally:
        env.close()


def pole_momentum_x(env) -> float:
    """x-momentum of the cart and the pole's centre of mass."""
    total = 0.0
    for link in (0, 1):
        mass = env.client.getDynamicsInfo(env._body, link)[0]
        velocity = env.client.getLinkState(env._body, link, computeLinkVelocity=1)[6]
        total += mass * velocity[0]
    return total


def test_push_impulse_changes_momentum_by_the_impulse_and_is_reported():
    push = {
        "event": "push_impulse",
        "selector": "cart",
        "axes": ["x"],
        "value": 0.4,
        "interval_s": 0.1,
    }
    env = CartPoleEnv(randomization=[push])
    try:
        _, info = env.reset(seed=0)
        assert "events" not in info
        steps_with_events = []
        for step in range(1, 13):
            before = pole_momentum_x(env)
            _, _, _, _, info = env.step(np.zeros(1, dtype=np.float32))
            if "events" in info:
                steps_with_events.append(step)
                assert info["events"] == [
                    {"event": "push_impulse", "link": "cart", "value": [0.4, 0.0, 0.0]}
                ]
                # The rail is frictionless bar the joint's damping: momentum gains the impulse.
                assert pole_momentum_x(env) - before == pytest.approx(0.4, rel=0.05)
        assert steps_with_events == [6, 11]  # every 0.1 s = 5 steps of 0.02 s
    finally:
        env.close()


def test_events_are_seeded_and_do_not_change_the_dynamics_drawn():
    mass = {"parameter": "link_mass", "range": [0.5, 2.0]}
    push = {"event": "push_velocity", "range": [-1.0, 1.0], "interval_s": [0.05, 0.2]}

    def run(spec, seed):
        env = CartPoleEnv(randomization=spec)
        try:
            _, info = env.reset(seed=seed)
            events = []
            for _ in range(50):
                events += env.step(np.zeros(1, dtype=np.float32))[4].get("events", [])
            return info["dynamics"], events
        finally:
            env.close()

    dynamics, events = run([mass, push], 3)
    assert run([mass, push], 3) == (dynamics, events)
    assert run([mass], 3)[0] == dynamics
    assert len(events) >= 5 and run([mass, push], 4)[1] != events


def test_reset_events_fire_once_at_reset():
    push = {
        "event": "push_velocity",
        "selector": "cart",
        "axes": "x",
        "value": 1.0,
        "when": "reset",
    }
    env = CartPoleEnv(randomization=[push])
    try:
        observation, info = env.reset(seed=0)
        assert info["events"] == [
            {"event": "push_velocity", "link": "cart", "value": [1.0, 0.0, 0.0]}
        ]
        _, _, _, _, step_info = env.step(np.zeros(1, dtype=np.float32))
        assert "events" not in step_info
        assert env.client.getJointState(env._body, SLIDER)[1] > 0.5  # the cart got moving
    finally:
        env.close()


def test_event_selectors_bind_to_named_links():
    with pytest.raises(
        SpecError, match=r"event 0 \(push_impulse\).*'wing' matches nothing; valid: torso"
    ):
        HopperEnv(
            randomization=[
                {"event": "push_impulse", "selector": "wing", "value": 1.0, "interval_s": 1}
            ]
        )


def observation_stream(spec, steps=30, seed=4):
    env = CartPoleEnv(randomization=spec)
    try:
        observations = [env.reset(seed=seed)[0]]
        rng = np.random.default_rng(0)
        for _ in range(steps):
            observations.append(env.step(rng.uniform(-1, 1, 1).astype(np.float32))[0])
        return np.array(observations)
    finally:
        env.close()


def test_observation_delay_shifts_the_stream_by_exactly_its_steps():
    plain = observation_stream(None)
    delay = [{"parameter": "observation_delay_s", "value": 0.06, "operation": "abs"}]
    late = observation_stream(delay)
    np.testing.assert_array_equal(late[3:], plain[:-3])  # 0.06 s = 3 control steps of 0.02 s
    np.testing.assert_array_equal(late[:3], np.repeat(plain[:1], 3, axis=0))


def test_an_observation_delay_set_mid_episode_repeats_the_oldest_until_full():
    """Two steps of delay from step 3 on: o3, o3, then two steps old (o3, o4), as a twin
    env without the delay observes them (the actions do not depend on observations)."""
    plain, late = CartPoleEnv(), CartPoleEnv()
    try:
        action = np.array([0.5], dtype=np.float32)
        plain.reset(seed=0)
        late.reset(seed=0)
        truth = [plain.step(action)[0] for _ in range(6)]
        seen = [late.step(action)[0] for _ in range(2)]
        late.set_dynamics({"observation_delay_s": 0.04})
        seen += [late.step(action)[0] for _ in range(4)]
    finally:
        plain.close()
        late.close()
    expected = [truth[0], truth[1], truth[2], truth[2], truth[2], truth[3]]
    np.testing.assert_array_equal(np.array(seen), np.array(expected))


def test_observation_bias_shifts_every_observation_by_its_value():
    plain = observation_stream(None)
    bias = [
        {
            "parameter": "observation_bias",
            "selector": "pole_angle",
            "value": 0.05,
            "operation": "abs",
        }
    ]
    biased = observation_stream(bias)  # the policy's actions do not depend on observations here
    shift = biased - plain
    np.testing.assert_allclose(shift[:, 2], 0.05, atol=1e-6)
    np.testing.assert_array_equal(shift[:, [0, 1, 3]], 0.0)


def test_observation_delay_must_be_whole_control_steps():
    with pytest.warns(UserWarning, match="not a multiple of the control step 0.02 s"):
        CartPoleEnv(
            randomization=[
                {"parameter": "observation_delay_s", "range": [0, 0.03], "operation": "abs"}
            ]
        ).close()


@pytest.mark.parametrize("parameter", ["restitution", "rolling_friction", "spinning_friction"])
def test_contact_terms_land_on_links_and_floor(parameter):
    env = HopperEnv(
        randomization=[{"parameter": parameter, "range": [0.01, 0.2], "operation": "abs"}]
    )
    try:
        for seed in (0, 1):
            _, info = env.reset(seed=seed)
            landed = read_simulator_dynamics(env.client, env.handles, env.layout)[parameter]
            np.testing.assert_allclose(landed, list(info["dynamics"][parameter].values()))
            assert env.layout.names(parameter)[-1] == "floor"
    finally:
        env.close()
