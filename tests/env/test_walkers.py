"""Walker2D, HalfCheetah, Ant and Reacher: step-by-step parity with their pybullet_envs peers.

Each is a handful of constants on the shared locomotion code (the Hopper has its own tests);
matching the peers from the same state is what makes the RL Zoo's returns the reference.
"""

from __future__ import annotations

import numpy as np
import pytest
from peers import start_peer_like  # tests/env/peers.py

WALKERS = [
    ("sim2real/Walker2D-v0", "Walker2DBulletEnv-v0"),
    ("sim2real/HalfCheetah-v0", "HalfCheetahBulletEnv-v0"),
    ("sim2real/Ant-v0", "AntBulletEnv-v0"),
]


def test_reacher_matches_the_peer_from_the_same_seed(make_env):
    """The arm: same start for a seed, then the same observations and rewards step by step."""
    pytest.importorskip("pybullet_envs_gymnasium")
    env, peer = make_env("sim2real/Reacher-v0"), make_env("ReacherBulletEnv-v0")
    for seed in (0, 3):
        ours, _ = env.reset(seed=seed)
        theirs, _ = peer.reset(seed=seed)
        np.testing.assert_array_equal(ours, theirs)
        rng = np.random.default_rng(seed)
        for _ in range(150):
            action = rng.uniform(-1, 1, 2).astype(np.float32)
            ours, reward, terminated, _, info = env.step(action)
            theirs, peer_reward, _, _, _ = peer.step(action)
            np.testing.assert_allclose(ours, theirs, atol=1e-6)
            assert reward == pytest.approx(peer_reward, abs=1e-6)
            assert sum(info["reward_terms"].values()) == pytest.approx(reward, abs=1e-12)
            assert not terminated


@pytest.mark.parametrize(("env_id", "peer_id"), WALKERS)
def test_layout_matches_the_peer(env_id, peer_id, make_env):
    pytest.importorskip("pybullet_envs_gymnasium")
    env, peer = make_env(env_id).unwrapped, make_env(peer_id).unwrapped
    peer.reset(seed=0)  # the peer loads its robot at the first reset
    assert env.observation_space.shape == peer.observation_space.shape
    assert env.action_space.shape == peer.action_space.shape
    assert list(env.action_names) == [joint.joint_name for joint in peer.robot.ordered_joints]
    assert env.layout.names("link_mass")[0] == "torso"
    assert [part.name for part in env.handles.feet] == list(peer.robot.foot_list)


@pytest.mark.parametrize(("env_id", "peer_id"), WALKERS)
def test_same_seed_starts_where_the_peer_starts(env_id, peer_id, make_env):
    pytest.importorskip("pybullet_envs_gymnasium")
    for seed in (0, 5):
        ours, _ = make_env(env_id).reset(seed=seed)
        theirs, _ = make_env(peer_id).reset(seed=seed)
        np.testing.assert_allclose(ours, theirs, atol=1e-6)


@pytest.mark.parametrize(("env_id", "peer_id"), WALKERS)
def test_matches_the_peer_step_by_step(env_id, peer_id, make_env):
    pytest.importorskip("pybullet_envs_gymnasium")
    peer = make_env(peer_id).unwrapped
    peer.reset(seed=0)  # the peer adds the floor to the parts it averages at its first reset
    env = make_env(env_id).unwrapped
    n = len(env.action_names)
    positions, speeds = slice(8, 8 + 2 * n, 2), slice(9, 9 + 2 * n, 2)
    rng = np.random.default_rng(0)
    steps = ended = 0
    for episode in range(3):
        ours, _ = env.reset(seed=episode)
        peer.reset(seed=episode)
        np.testing.assert_allclose(start_peer_like(peer, env), ours, atol=1e-6)
        start = ours[positions].copy()
        for _ in range(150):
            # A noisy hold of the start pose: contacts, limits and, for some, falls.
            hold = -3.0 * (ours[positions] - start) - 0.3 * ours[speeds]
            action = np.clip(hold + rng.normal(0, 0.3, n), -1, 1).astype(np.float32)
            theirs, peer_reward, peer_done, _, _ = peer.step(action)
            ours, reward, terminated, _, info = env.step(action)
            np.testing.assert_allclose(ours, theirs, atol=1e-5)
            assert reward == pytest.approx(peer_reward, abs=1e-4)
            assert sum(info["reward_terms"].values()) == pytest.approx(reward, abs=1e-12)
            assert terminated == peer_done
            steps += 1
            if terminated:
                ended += 1
                break
    assert steps >= 50, steps  # an unpowered Ant collapses and ends in ~20 steps, as the peer


@pytest.mark.parametrize("env_id", ["sim2real/Hopper-v0", *(w[0] for w in WALKERS)])
def test_the_unwrapped_env_steps_before_its_first_reset(env_id, make_env):
    """Below gymnasium's order check the contact read is bound from the start (feet on the
    floor are read, not missed)."""
    env = make_env(env_id).unwrapped
    for _ in range(30):
        env.step(np.zeros(env.action_space.shape, np.float32))
    assert any(env._feet_contact)
