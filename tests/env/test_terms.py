"""Inertia, control-period jitter and rough terrain: values landing in the simulator, their
measured effect, zero width as the identity, no compounding, seeds and one-line errors."""

from __future__ import annotations

import numpy as np
import pytest

from sim2real.envs.a1 import A1Env
from sim2real.envs.cartpole import CartPoleEnv
from sim2real.envs.hopper import HopperEnv
from sim2real.randomization import SpecError
from sim2real.randomization.apply import read_simulator_dynamics
from tests.env.bad_inputs import assert_one_line


def diagonal(env, part) -> np.ndarray:
    return np.array(env.client.getDynamicsInfo(part.body, part.index)[2])


def test_inertia_scales_every_principal_moment_on_top_of_the_mass():
    env = HopperEnv(
        randomization=[
            {"parameter": "link_inertia", "range": [0.5, 2.0]},
            {"parameter": "link_mass", "range": [0.5, 2.0]},
        ]
    )
    try:
        loaded = {part.name: diagonal(env, part) for part in env.handles.links}
        assert env.nominal["link_inertia"].tolist() == [1.0] * len(env.handles.links)
        for seed in range(3):
            _, info = env.reset(seed=seed)
            held = read_simulator_dynamics(env.client, env.handles, env.layout)
            np.testing.assert_allclose(
                held["link_inertia"], list(info["dynamics"]["link_inertia"].values())
            )
            for part in env.handles.links:
                scale = info["dynamics"]["link_inertia"][part.name]
                mass_ratio = (
                    info["dynamics"]["link_mass"][part.name]
                    / env.nominal["link_mass"][env.layout.names("link_mass").index(part.name)]
                )
                moments = diagonal(env, part)
                np.testing.assert_allclose(moments, scale * mass_ratio * loaded[part.name])
                assert moments.min() > 0 and 2 * moments.max() <= moments.sum() + 1e-12
    finally:
        env.close()


def test_inertia_survives_a_mass_change_that_pybullet_resets_it_with():
    """PyBullet recomputes the inertia when a mass is set: the scale is written again."""
    env = HopperEnv(
        randomization=[{"parameter": "link_inertia", "selector": "torso", "value": 3.0}]
    )
    try:
        env.reset(seed=0)
        torso = env.handles.links[0]
        loaded_moments = diagonal(env, torso) / 3.0
        env.set_dynamics({"link_mass": {"torso": 2 * env.nominal["link_mass"][0]}})
        env.reset()
        np.testing.assert_allclose(diagonal(env, torso), 6.0 * loaded_moments)
        env.reset()  # no compounding over resets
        np.testing.assert_allclose(diagonal(env, torso), 6.0 * loaded_moments)
    finally:
        env.close()


def test_unit_inertia_scale_is_the_identity():
    plain, scaled = (
        HopperEnv(),
        HopperEnv(randomization=[{"parameter": "link_inertia", "value": 1.0}]),
    )
    try:
        plain.reset(seed=0)
        scaled.reset(seed=0)
        for a, b in zip(plain.handles.links, scaled.handles.links, strict=True):
            assert diagonal(plain, a).tolist() == diagonal(scaled, b).tolist()
    finally:
        plain.close()
        scaled.close()


@pytest.mark.parametrize(
    ("term", "message"),
    [
        (
            {"parameter": "link_inertia", "range": [-1.0, 2.0]},
            "link_inertia = -1 after 'scale'; it must stay > 0",
        ),
        (
            {"parameter": "control_jitter_s", "value": 0.01, "operation": "abs"},
            "control_jitter_s = 0.01 after 'abs'; it must stay <= 0.00825",
        ),
        (
            {"parameter": "terrain_roughness_m", "value": -0.1, "operation": "abs"},
            "terrain_roughness_m = -0.1 after 'abs'; it must stay >= 0",
        ),
    ],
)
def test_bad_values_are_one_line_errors(term, message):
    with pytest.raises(SpecError) as error:
        HopperEnv(randomization=[term])
    assert message in str(error.value)
    assert_one_line(str(error.value))


def test_terrain_needs_a_world_with_a_floor_patch():
    with pytest.raises(SpecError, match="not randomizable in this env") as error:
        CartPoleEnv(
            randomization=[{"parameter": "terrain_roughness_m", "value": 0.01, "operation": "abs"}]
        )
    assert_one_line(str(error.value))


def periods(env, steps: int) -> np.ndarray:
    """The simulated time of each control step, as PyBullet holds it."""
    per_step = []
    for _ in range(steps):
        env.step(np.zeros(env.action_space.shape, dtype=np.float32))
        time_step = env.client.getPhysicsEngineParameters()["fixedTimeStep"]
        per_step.append(time_step * env.physics_steps_per_action)
    return np.array(per_step)


def test_control_jitter_varies_the_period_within_its_range_around_the_nominal_mean():
    jitter = 0.004
    spec = [{"parameter": "control_jitter_s", "value": jitter, "operation": "abs"}]
    env = A1Env(randomization=spec)
    try:
        _, info = env.reset(seed=0)
        assert info["dynamics"]["control_jitter_s"] == jitter
        measured = periods(env, 300)
        assert (
            measured.min() >= env.control_dt - jitter and measured.max() <= env.control_dt + jitter
        )
        assert measured.std() > jitter / 2  # it does vary: U(-j, j) has std j / sqrt(3)
        standard_error = jitter / np.sqrt(3) / np.sqrt(len(measured))
        assert abs(measured.mean() - env.control_dt) < 4 * standard_error
        env.reset(seed=0)
        np.testing.assert_array_equal(periods(env, 300), measured)  # seeded
        env.set_randomization(None)
        env.reset()
        np.testing.assert_allclose(periods(env, 3), env.control_dt)  # nominal again
    finally:
        env.close()


def test_control_jitter_keeps_the_walkers_sub_steps():
    env = HopperEnv(
        randomization=[{"parameter": "control_jitter_s", "value": 0.002, "operation": "abs"}]
    )
    try:
        env.reset(seed=0)
        measured = periods(env, 20)
        assert np.ptp(measured) > 0 and env.client.getPhysicsEngineParameters()["numSubSteps"] == 4
    finally:
        env.close()


def terrain_heights(env) -> np.ndarray:
    """The ground's heights at the patch's vertices, measured by rays (the robot is away)."""
    terrain = env._terrain
    x, y = terrain.grid.vertices()
    inside = (np.abs(x - terrain.grid.centre_m[0]) < terrain.grid.size_m[0] / 2 - 0.01) & (
        np.abs(y - terrain.grid.centre_m[1]) < terrain.grid.size_m[1] / 2 - 0.01
    )
    env.client.resetBasePositionAndOrientation(env.handles.base.body, [0, 0, 5], [0, 0, 0, 1])
    hits = env.client.rayTestBatch(
        [[a, b, 2.0] for a, b in zip(x[inside], y[inside], strict=True)],
        [[a, b, -2.0] for a, b in zip(x[inside], y[inside], strict=True)],
    )
    assert {hit[0] for hit in hits} == {terrain.body}  # the field, not the floor under it
    return np.array([hit[3][2] for hit in hits]), terrain.heights[inside]


@pytest.mark.parametrize("roughness", [0.01, 0.04])
def test_terrain_heights_have_the_roughness_as_their_std(roughness):
    env = A1Env(
        randomization=[{"parameter": "terrain_roughness_m", "value": roughness, "operation": "abs"}]
    )
    try:
        _, info = env.reset(seed=1)
        assert info["dynamics"]["terrain_roughness_m"] == roughness
        assert env._terrain.heights.std() == pytest.approx(roughness)
        measured, drawn = terrain_heights(env)
        np.testing.assert_allclose(measured, drawn, atol=1e-6)
        assert measured.std() == pytest.approx(roughness, rel=0.05)
    finally:
        env.close()


def test_terrain_is_new_at_each_reset_seeded_and_carries_the_floor_friction():
    spec = [
        {"parameter": "terrain_roughness_m", "value": 0.02, "operation": "abs"},
        {"parameter": "lateral_friction", "selector": "floor", "value": 0.3, "operation": "abs"},
    ]
    env = A1Env(randomization=spec)
    try:
        env.reset(seed=3)
        first = env._terrain.heights.copy()
        assert env.client.getDynamicsInfo(env._terrain.body, -1)[1] == pytest.approx(0.3)
        env.reset()
        assert not np.array_equal(env._terrain.heights, first)
        env.reset(seed=3)
        np.testing.assert_array_equal(env._terrain.heights, first)
    finally:
        env.close()


def test_walkers_stand_and_touch_the_rough_ground():
    env = HopperEnv(
        randomization=[{"parameter": "terrain_roughness_m", "value": 0.02, "operation": "abs"}]
    )
    try:
        env.reset(seed=0)
        terrain_contacts = flagged = 0
        for _ in range(15):
            observation = env.step(np.zeros(3, dtype=np.float32))[0]
            terrain_contacts += bool(env.client.getContactPoints(env._robot, env._terrain.body))
            flagged += observation[-1] == 1.0
        assert terrain_contacts > 0 and flagged > 0  # the foot lands on it, and the robot feels it
        assert not env.client.getContactPoints(env._robot, env.handles.floor.body)
    finally:
        env.close()


def test_zero_roughness_is_the_flat_floor_and_builds_nothing():
    plain = HopperEnv()
    flat = HopperEnv(
        randomization=[{"parameter": "terrain_roughness_m", "value": 0.0, "operation": "abs"}]
    )
    try:
        np.testing.assert_array_equal(plain.reset(seed=2)[0], flat.reset(seed=2)[0])
        for _ in range(10):
            action = np.full(3, 0.5, dtype=np.float32)
            np.testing.assert_array_equal(plain.step(action)[0], flat.step(action)[0])
        assert flat._terrain is None
    finally:
        plain.close()
        flat.close()


def test_rough_then_flat_episodes_restore_the_floor():
    env = HopperEnv()
    try:
        env.set_dynamics({"terrain_roughness_m": 0.03})
        env.reset(seed=0)
        assert env.client.getBasePositionAndOrientation(env.handles.floor.body)[0][2] < 0
        env.set_dynamics({"terrain_roughness_m": 0.0})
        env.reset()
        assert env.client.getBasePositionAndOrientation(env.handles.floor.body)[0][2] == 0.0
        assert env.client.getBasePositionAndOrientation(env._terrain.body)[0][2] < -1
    finally:
        env.close()


def test_set_dynamics_takes_the_new_terms_and_checks_them():
    env = A1Env()
    try:
        env.set_dynamics({"link_inertia": {"trunk": 1.5}, "control_jitter_s": 0.002})
        _, info = env.reset(seed=0)
        held = read_simulator_dynamics(env.client, env.handles, env.layout)["link_inertia"]
        assert held[0] == pytest.approx(1.5) and info["dynamics"]["control_jitter_s"] == 0.002
        with pytest.raises(SpecError) as error:
            env.set_dynamics({"control_jitter_s": 0.02})  # a whole control step of 0.02 s
        assert "control_jitter_s = 0.02; it must stay <= 0.01" in str(error.value)
        assert_one_line(str(error.value))
    finally:
        env.close()
