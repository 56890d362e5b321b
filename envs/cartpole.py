"""``sim2real/CartPole-v0``: pybullet_data's cartpole.urdf balanced with a continuous force.

Classic balance task (Barto et al.; gymnasium's CartPole thresholds): +1 per step while
|pole angle| < 12 degrees and |cart position| < 2.4 m, 500-step episodes. The action in
[-1, 1] scales a 10 N force on the cart (times the motor strength).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces

from sim2real.envs.actuators import TorqueActuator
from sim2real.envs.base import BulletEnv, PrivilegedArg, RandomizationArg
from sim2real.envs.bullet import BulletClient, pybullet, pybullet_data
from sim2real.randomization import BodyPart, ModelHandles

SLIDER, HINGE = 0, 1


class CartPoleEnv(BulletEnv):
    control_dt: ClassVar[float] = 0.02
    force_n: ClassVar[float] = 10.0
    angle_limit_rad: ClassVar[float] = 12 * math.pi / 180
    position_limit_m: ClassVar[float] = 2.4
    observation_names: ClassVar[tuple[str, ...]] = (
        "cart_position",
        "cart_velocity",
        "pole_angle",
        "pole_angular_velocity",
    )
    observation_units: ClassVar[dict[str, str]] = {
        "cart_position": "m",
        "cart_velocity": "m/s",
        "pole_angle": "rad",
        "pole_angular_velocity": "rad/s",
    }
    action_names: ClassVar[tuple[str, ...]] = ("force",)
    # The URDF has no friction on the rail or the hinge; a little damping makes the nominal
    # system physical and gives "slippery" targets something to take away.
    nominal_overrides: ClassVar[dict[str, dict[str, float]]] = {
        "joint_damping": {"slider_to_cart": 0.5, "cart_to_pole": 0.005}
    }
    # The cart rides a rail and the pole swings freely: there are no contacts to rub.
    unsupported_parameters: ClassVar[frozenset[str]] = frozenset({"lateral_friction"})

    def __init__(
        self,
        randomization: RandomizationArg = None,
        render_mode: str | None = None,
        privileged: PrivilegedArg = False,
        actuator: Mapping[str, Any] | None = None,
    ):
        # Velocity bounds far above anything the task reaches; finite for the checkers.
        limit = np.array(
            [2 * self.position_limit_m, 100.0, 2 * self.angle_limit_rad, 100.0], np.float32
        )
        self.observation_space = spaces.Box(-limit, limit, dtype=np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, (1,), dtype=np.float32)
        super().__init__(randomization, render_mode, privileged, actuator)

    def _load(self, client: BulletClient) -> ModelHandles:
        client.setGravity(0.0, 0.0, self.gravity_z)
        client.setTimeStep(self.control_dt)
        body = client.loadURDF(f"{pybullet_data.getDataPath()}/cartpole.urdf", [0.0, 0.0, 0.0])
        for link in (-1, SLIDER, HINGE):
            client.changeDynamics(body, link, linearDamping=0.0, angularDamping=0.0)
        for joint in (SLIDER, HINGE):
            client.setJointMotorControl2(body, joint, pybullet.VELOCITY_CONTROL, force=0.0)
        self._body = body
        return ModelHandles(
            links=(BodyPart("cart", body, SLIDER), BodyPart("pole", body, HINGE)),
            joints=(BodyPart("slider_to_cart", body, SLIDER),),
            passive_joints=(BodyPart("cart_to_pole", body, HINGE),),
            base=BodyPart("cart", body, SLIDER),  # the rail is static: pushes land on the cart
        )

    def _reset_robot(self) -> None:
        start = self.np_random.uniform(-0.05, 0.05, size=4)
        self.client.resetJointState(self._body, SLIDER, start[0], start[1])
        self.client.resetJointState(self._body, HINGE, start[2], start[3])

    def _make_actuator(self, client: BulletClient, handles: ModelHandles) -> TorqueActuator:
        return TorqueActuator(client, self._body, [SLIDER], [self.force_n])

    def _observe(self) -> np.ndarray:
        (x, x_dot, *_), (theta, theta_dot, *_) = self.client.getJointStates(
            self._body, (SLIDER, HINGE)
        )
        self._state = np.array([x, x_dot, theta, theta_dot], dtype=np.float64)
        return self._state

    def _reward(self, command: np.ndarray) -> tuple[dict[str, float], bool]:
        x, _, theta, _ = self._state  # set by _observe, which the step loop calls first
        fallen = abs(x) > self.position_limit_m or abs(theta) > self.angle_limit_rad
        return {"alive": 1.0}, bool(fallen)

    def _camera_target(self) -> list[float]:
        return [0.0, 0.0, 0.5]
