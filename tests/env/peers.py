"""Helpers for parity tests against the pybullet-envs-gymnasium peers."""

from __future__ import annotations

import numpy as np


def joint_positions(env) -> list[float]:
    return [env.client.getJointState(part.body, part.index)[0] for part in env.handles.joints]


def start_peer_like(peer, env) -> np.ndarray:
    """Put the peer's joints where ours are and re-anchor its height and potential."""
    robot = peer.robot
    for joint, position in zip(robot.ordered_joints, joint_positions(env), strict=True):
        joint.reset_current_position(position, 0.0)
    robot.initial_z = None
    observation = robot.calc_state()
    peer.potential = robot.calc_potential()
    return observation
