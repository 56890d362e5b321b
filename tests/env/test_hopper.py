"""Hopper-specific checks: observation layout, reward terms, falling, DR landing, peer parity."""

from __future__ import annotations

import numpy as np
import pytest
from peers import joint_positions, start_peer_like  # tests/env/peers.py

ENV_ID = "sim2real/Hopper-v0"
TERMS = {"alive", "progress", "electricity", "joints_at_limit"}


def test_observation_layout_at_reset(make_env):
    env = make_env(ENV_ID).unwrapped
    observation, _ = env.reset(seed=0)
    assert observation.shape == (15,) == env.observation_space.shape
    assert observation.dtype == np.float32
    assert len(env.observation_names) == 15 and len(set(env.observation_names)) == 15
    assert env.action_names == tuple(part.name for part in env.handles.joints)
    named = dict(zip(env.observation_names, observation.tolist(), strict=True))
    # At rest at the start: no height change, heading straight at the target, no velocity.
    assert named["height"] == 0.0
    assert named["target_sin"] == pytest.approx(0.0, abs=1e-6)
    assert named["target_cos"] == pytest.approx(1.0)
    for name in ("torso_vel_x", "torso_vel_y", "torso_vel_z", "roll", "pitch", "foot_contact"):
        assert named[name] == pytest.approx(0.0, abs=1e-6), name
    for part, position in zip(env.handles.joints, joint_positions(env), strict=True):
        low, high = env.client.getJointInfo(part.body, part.index)[8:10]
        scaled = 2 * (position - low) / (high - low) - 1
        assert named[f"{part.name}_pos"] == pytest.approx(scaled, abs=1e-6)
        assert named[f"{part.name}_vel"] == 0.0


def test_handles_name_the_massive_links_and_the_floor(make_env):
    env = make_env(ENV_ID).unwrapped
    assert [part.name for part in env.handles.links] == ["torso", "thigh", "leg", "foot"]
    assert all(env.nominal["link_mass"] > 0)
    assert env.handles.floor.name == "floor"
    assert env.layout.names("lateral_friction")[-1] == "floor"


def test_reward_terms_are_itemized_and_sum_to_the_reward(make_env):
    env = make_env(ENV_ID)
    env.reset(seed=1)
    rng = np.random.default_rng(1)
    for _ in range(50):
        _, reward, terminated, truncated, info = env.step(rng.uniform(-1, 1, 3))
        terms = info["reward_terms"]
        assert set(terms) == TERMS
        assert reward == pytest.approx(sum(terms.values()), abs=1e-12)
        assert terms["electricity"] <= 0.0 and terms["joints_at_limit"] <= 0.0
        if terminated or truncated:
            env.reset()


def test_terminates_when_the_hopper_falls(make_env):
    env = make_env(ENV_ID).unwrapped
    env.reset(seed=2)
    torso = env.handles.links[0]
    alive_steps = 0
    for _ in range(300):
        _, _, terminated, _, info = env.step(np.array([1.0, -1.0, 0.0], dtype=np.float32))
        (_, _, z), orientation = env.client.getLinkState(torso.body, torso.index)[:2]
        pitch = env.client.getEulerFromQuaternion(orientation)[1]
        fallen = not (z > 0.8 and abs(pitch) < 1.0)
        assert terminated == fallen
        assert info["reward_terms"]["alive"] == (-1.0 if fallen else 1.0)
        if terminated:
            break
        alive_steps += 1
    else:
        pytest.fail("the hopper did not fall within 300 steps")
    assert alive_steps > 0


def test_torso_mass_and_floor_friction_land_in_the_simulator(make_env):
    spec = [
        {"parameter": "link_mass", "selector": "torso", "range": [1.3, 1.6]},
        {
            "parameter": "lateral_friction",
            "selector": "floor",
            "range": [0.3, 0.5],
            "operation": "abs",
        },
    ]
    env = make_env(ENV_ID, randomization=spec).unwrapped
    torso, floor = env.handles.links[0], env.handles.floor
    nominal_mass, _, nominal_inertia = env.client.getDynamicsInfo(torso.body, torso.index)[:3]
    masses = set()
    for seed in range(3):
        _, info = env.reset(seed=seed)
        mass, _, inertia = env.client.getDynamicsInfo(torso.body, torso.index)[:3]
        friction = env.client.getDynamicsInfo(floor.body, floor.index)[1]
        assert mass == pytest.approx(info["dynamics"]["link_mass"]["torso"], rel=1e-12)
        assert 1.3 <= mass / nominal_mass <= 1.6
        np.testing.assert_allclose(np.array(inertia) / nominal_inertia, mass / nominal_mass)
        assert friction == pytest.approx(info["dynamics"]["lateral_friction"]["floor"])
        assert 0.3 <= friction <= 0.5
        masses.add(mass)
        # Only the selected link changes.
        assert info["dynamics"]["link_mass"]["thigh"] == env.nominal["link_mass"][1]
    assert len(masses) == 3


def test_motor_strength_scales_the_torque(make_env):
    def thigh_speed(strength: float) -> float:
        env = make_env(ENV_ID).unwrapped
        env.set_dynamics({"motor_strength": {"thigh_joint": strength}})
        env.reset(seed=3)
        # Start the thigh mid-range and at rest, far from both limits, then push it.
        thigh = env.handles.joints[0]
        lower, upper = env.client.getJointInfo(thigh.body, thigh.index)[8:10]
        env.client.resetJointState(thigh.body, thigh.index, 0.5 * (lower + upper), 0.0)
        observation, *_ = env.step(np.array([-1.0, 0.0, 0.0], dtype=np.float32))
        return float(observation[env.observation_names.index("thigh_joint_vel")])

    # Airborne for the first step, the speed gained is linear in the torque.
    unpowered, half, full = thigh_speed(0.0), thigh_speed(0.5), thigh_speed(1.0)
    assert abs(full - unpowered) > 0.01
    assert half - unpowered == pytest.approx(0.5 * (full - unpowered), rel=0.05)


def test_matches_pybullet_envs_hopper_step_by_step(make_env):
    pytest.importorskip("pybullet_envs_gymnasium")
    import gymnasium as gym

    peer = gym.make("HopperBulletEnv-v0").unwrapped
    try:
        # The peer adds the floor to the parts it averages only after its first reset.
        peer.reset(seed=0)
        env = make_env(ENV_ID).unwrapped
        rng = np.random.default_rng(0)
        steps = 0
        for episode in range(4):
            ours, _ = env.reset(seed=episode)
            peer.reset(seed=episode)
            np.testing.assert_array_equal(start_peer_like(peer, env), ours)
            start = ours[8:14:2].copy()
            for _ in range(200):
                # A noisy hold of the start pose: long episodes, with contacts and limits.
                hold = -3.0 * (ours[8:14:2] - start) - 0.3 * ours[9:15:2]
                action = np.clip(hold + rng.normal(0, 0.3, 3), -1, 1).astype(np.float32)
                theirs, peer_reward, peer_done, _, _ = peer.step(action)
                ours, reward, terminated, _, _ = env.step(action)
                np.testing.assert_allclose(ours, theirs, atol=1e-6)
                assert reward == pytest.approx(peer_reward, abs=1e-5)
                assert terminated == peer_done
                steps += 1
                if terminated:
                    break
        assert steps > 400
    finally:
        peer.close()


def test_same_seed_starts_where_the_peer_starts(make_env):
    pytest.importorskip("pybullet_envs_gymnasium")
    import gymnasium as gym

    peer = gym.make("HopperBulletEnv-v0")
    try:
        for seed in (0, 5):
            ours, _ = make_env(ENV_ID).reset(seed=seed)
            theirs, _ = peer.reset(seed=seed)
            np.testing.assert_array_equal(ours, theirs)
    finally:
        peer.close()
