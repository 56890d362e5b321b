"""Recording targets and identifying them: exact state replay, the objective, a known answer."""

import numpy as np
import pytest

from sim2real.data import check_env, load_data, save_data
from sim2real.errors import UserError
from sim2real.randomization import parse_spec
from sim2real.record import record
from sim2real.state import StateIO
from sim2real.sysid.identify import identify, prepare
from sim2real.sysid.objective import Replayer
from sim2real.sysid.space import search_space

CARTPOLE = "sim2real/CartPole-v0"
HOPPER = "sim2real/Hopper-v0"
POLE_SPEC = parse_spec([{"parameter": "link_mass", "selector": "pole", "range": [0.5, 3.0]}])
HOPPER_SPEC = parse_spec(
    [
        {"parameter": "link_mass", "range": [0.7, 1.5]},
        {"parameter": "lateral_friction", "selector": "floor", "range": [0.5, 1.25]},
        {"parameter": "joint_damping", "operation": "add", "range": [0.0, 0.5]},
        {"parameter": "motor_strength", "range": [0.7, 1.2]},
        {"parameter": "action_latency_s", "value": 0.033, "operation": "abs"},
    ]
)


def recorded(make_env, tmp_path, env_id, dynamics, policy="sine", episodes=3):
    env = make_env(env_id)
    env.unwrapped.set_dynamics(dynamics)
    path = save_data(tmp_path / "data.npz", record(env, policy, episodes, seed=3))
    return path, load_data(path)


def test_state_writes_back_exactly(make_env):
    for env_id in (HOPPER, "sim2real/Ant-v0", CARTPOLE):
        env = make_env(env_id)
        env.reset(seed=0)
        io = StateIO(env.unwrapped)
        for _ in range(5):
            env.step(env.action_space.sample())
        state = io.read()
        env.reset(seed=1)
        io.write(state)
        for name, values in io.read().items():
            np.testing.assert_allclose(values, state[name], atol=1e-9, err_msg=f"{env_id} {name}")


def test_recording_holds_no_dynamics_and_the_env_must_match(make_env, tmp_path):
    path, data = recorded(make_env, tmp_path, CARTPOLE, {"link_mass": {"pole": 0.25}}, "random")
    with np.load(path, allow_pickle=False) as archive:
        assert not any("mass" in key or "dynamics" in key for key in archive.files)
        assert 0.25 not in archive["observations"]
    assert data.joint_names == ("slider_to_cart", "cart_to_pole")
    assert data.terminated[-1] and data.episodes == 3
    with pytest.raises(UserError, match="recorded with env id 'sim2real/CartPole-v0'"):
        check_env(data, make_env(HOPPER), "data.npz")


def test_actions_beyond_the_replays_bound_are_refused(make_env, tmp_path):
    """A robot's log from a policy with a wider action_clip: the replay would clip it."""
    _, data = recorded(make_env, tmp_path, CARTPOLE, {}, "random", episodes=1)
    check_env(data, make_env(CARTPOLE), "data.npz")
    data.actions[2, 0] = 1.5
    expected = "data.npz: action 'force' at step 2 is 1.5, beyond sim2real/CartPole-v0's bound of 1"
    with pytest.raises(UserError, match=expected):
        check_env(data, make_env(CARTPOLE), "data.npz")


def test_objective_is_zero_at_the_truth_and_grows_away_from_it(make_env, tmp_path):
    truth = {"link_mass": {"pole": 0.15}}
    path, data = recorded(make_env, tmp_path, CARTPOLE, truth)
    replayer = Replayer(data, search_space(make_env(CARTPOLE).unwrapped, POLE_SPEC), 10)
    losses = [replayer.loss(np.array([mass])) for mass in (0.15, 0.17, 0.2, 0.1)]
    replayer.close()
    assert losses[0] == 0.0
    assert 0 < losses[1] < losses[2]
    assert losses[3] > 0


def test_hopper_replay_with_latency_and_contacts_is_exact_at_the_truth(make_env, tmp_path):
    truth = {"link_mass": {"torso": 4.0}, "motor_strength": 0.8, "action_latency_s": 0.033}
    path, data = recorded(make_env, tmp_path, HOPPER, truth, episodes=2)
    env = make_env(HOPPER)
    space = search_space(env.unwrapped, HOPPER_SPEC)
    assert space.fixed == {"action_latency_s": {"latency": 0.033}}
    named = env.unwrapped.get_dynamics()
    values = np.array([named[c.parameter][c.element] for c in space.coordinates])
    values[[c.name for c in space.coordinates].index("link_mass:torso")] = 4.0
    values[[c.parameter == "motor_strength" for c in space.coordinates]] = 0.8
    replayer = Replayer(data, space, 8)
    assert replayer.loss(values) < 1e-12
    assert replayer.loss(space.nominal) > 1e-3
    replayer.close()


def test_known_answer_cartpole_pole_mass(make_env, tmp_path):
    path, _ = recorded(make_env, tmp_path, CARTPOLE, {"link_mass": {"pole": 0.15}})  # x1.5
    result = identify(prepare(path, POLE_SPEC, ["link_mass:pole"], budget=60, workers=1))
    (fit,) = result.fits
    assert fit.identified
    assert fit.value == pytest.approx(0.15, rel=0.02)
    assert 0 < fit.std < 0.05
    assert result.fit_loss < 1e-3 * result.nominal_loss
    assert result.search.evaluations <= 60


SCALE_SPEC = parse_spec(
    [
        {"parameter": "link_mass", "range": [0.5, 2.0]},
        {"parameter": "motor_strength", "range": [0.5, 2.0]},
        {"parameter": "joint_damping", "range": [0.5, 2.0]},
    ]
)


def test_flat_directions_are_reported_not_fitted(make_env, tmp_path):
    # Scaling every mass and the motor together leaves a torque-driven cart-pole's motion as it
    # was: motion alone cannot tell these apart.
    path, _ = recorded(make_env, tmp_path, CARTPOLE, {})
    result = identify(prepare(path, SCALE_SPEC, budget=400, workers=1, torques=False))
    assert not result.setup.torques
    assert len(result.analysis.flat_directions) >= 1
    assert not any(fit.identified for fit in result.fits if fit.coordinate.parameter != "gravity")


def test_measured_torques_fix_the_common_scale(make_env, tmp_path):
    # The same data with the joint torques the recording holds: the torque pins the motor
    # strength, and with it the masses, so nothing is flat and the truth is found.
    truth = {"link_mass": {"cart": 1.5, "pole": 0.15}, "motor_strength": 1.5}
    path, data = recorded(make_env, tmp_path, CARTPOLE, truth)
    assert data.joint_torques is not None
    result = identify(prepare(path, SCALE_SPEC, ["link_mass", "motor_strength"], budget=400))
    assert result.setup.torques and len(result.analysis.flat_directions) == 0
    fitted = {fit.coordinate.name: fit for fit in result.fits}
    assert all(fit.identified for fit in fitted.values())
    assert fitted["link_mass:cart"].value == pytest.approx(1.5, rel=0.02)
    assert fitted["link_mass:pole"].value == pytest.approx(0.15, rel=0.02)
    assert next(
        f for n, f in fitted.items() if n.startswith("motor_strength")
    ).value == pytest.approx(1.5, rel=0.02)


def test_a_ranged_latency_is_found_among_its_whole_steps(make_env, tmp_path):
    truth = {"link_mass": {"pole": 0.15}, "action_latency_s": 0.04}
    path, _ = recorded(make_env, tmp_path, CARTPOLE, truth)
    spec = parse_spec(
        [
            {"parameter": "link_mass", "selector": "pole", "range": [0.5, 3.0]},
            {"parameter": "action_latency_s", "range": [0.0, 0.04], "operation": "abs"},
        ]
    )
    setup = prepare(path, spec, budget=90, workers=1)
    assert setup.space.latencies == pytest.approx((0.0, 0.02, 0.04))
    result = identify(setup)
    assert result.latency == pytest.approx(0.04) and result.latency_identified
    assert result.fit_loss <= min(loss for _, loss in result.latency_losses)
    assert result.fits[0].value == pytest.approx(0.15, rel=0.05)


def test_the_latency_alone_is_refused_not_widened_to_every_value(make_env):
    spec = parse_spec(
        [
            {"parameter": "link_mass", "selector": "pole", "range": [0.5, 3.0]},
            {"parameter": "action_latency_s", "range": [0.0, 0.04], "operation": "abs"},
        ]
    )
    env = make_env(CARTPOLE).unwrapped
    with pytest.raises(UserError, match="at least one continuous value; add one of: link_mass"):
        search_space(env, spec, ["action_latency_s"])
    both = search_space(env, spec, ["action_latency_s", "link_mass"])
    assert [c.parameter for c in both.coordinates] == ["link_mass"] and both.latencies
