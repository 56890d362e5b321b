"""Non-ideal actuators that wrap a robot's own (torque or PD) actuator: a DC motor and a learned
actuator network.

Both take the torque the robot's actuator commands (:meth:`commanded_torques`) and turn it
into the torque that reaches the joint, so they plug in wherever an :class:`Actuator` does,
keep its catalogue parameters (motor strength, joint friction, PD gains, latency) and leave
the dynamics layout unchanged. An env takes one through ``actuator=`` (an env kwarg in a
config) and a target through its ``actuator:`` key (:func:`sim2real.targets.apply_target`):

    actuator: {dc_motor: {saturation_torque: 60, no_load_speed: 12,
                          time_constant_s: 0.03, coulomb_friction: 3}}
    actuator: {learned: runs/my_actuator}       # written by `sim2real fit-actuator`

**DC motor** (every value a number or one per actuated joint; N*m, rad/s, s): the commanded
torque passes a first-order lag ``tau += (1 - exp(-dt / T)) * (command - tau)``, is clipped
to the torque-speed line of the motor ``[sat * (-1 - w / w0), sat * (1 - w / w0)]`` (itself
within ``+-sat``; Isaac Lab's DCMotor), and loses Coulomb friction: ``-f * sign(w)`` when the
joint moves, up to ``f`` of the motor torque when it does not.

**Learned**: a small MLP (``sim2real fit-actuator``) maps the last ``history`` commands and
joint velocities of every actuated joint to the torque each receives; it runs once per
command (one control step), and its output is scaled by the motor strength.
"""

from __future__ import annotations

import json
import math
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sim2real.envs.bullet import pybullet
from sim2real.errors import UserError

__all__ = [
    "ACTUATOR_KINDS",
    "DC_MOTOR_FIELDS",
    "ActuatorNetwork",
    "DCMotor",
    "DCMotorActuator",
    "LearnedActuator",
    "build_actuator",
    "check_actuator_spec",
    "dc_motor_torque",
]

ACTUATOR_KINDS = ("dc_motor", "learned")
DC_MOTOR_FIELDS = ("saturation_torque", "no_load_speed", "time_constant_s", "coulomb_friction")
NETWORK_FILE, WEIGHTS_FILE = "actuator.json", "weights.npz"
NETWORK_FORMAT = 1


@dataclass(frozen=True)
class DCMotor:
    """Per-joint arrays (or scalars): see the module docstring."""

    saturation_torque: np.ndarray
    no_load_speed: np.ndarray
    time_constant_s: np.ndarray
    coulomb_friction: np.ndarray


def dc_motor_torque(
    motor: DCMotor, lagged: np.ndarray, commanded: np.ndarray, velocity: np.ndarray, dt: float
) -> tuple[np.ndarray, np.ndarray]:
    """One physics step of the DC motor: ``(new lag state, torque at the joint)``.

    ``lagged`` is the lag's state (the torque the motor was heading to), ``commanded`` the
    robot's commanded torque, ``velocity`` the joint velocity (rad/s); arrays ``(joints,)``.
    """
    tau = np.asarray(motor.time_constant_s, dtype=np.float64)
    alpha = np.where(tau > 0, -np.expm1(-dt / np.where(tau > 0, tau, 1.0)), 1.0)
    lagged = lagged + alpha * (commanded - lagged)
    saturation = motor.saturation_torque
    ratio = velocity / motor.no_load_speed
    upper = np.clip(saturation * (1.0 - ratio), 0.0, saturation)
    lower = np.clip(saturation * (-1.0 - ratio), -saturation, 0.0)
    motor_torque = np.clip(lagged, lower, upper)
    friction = motor.coulomb_friction
    moving = velocity != 0.0
    resisted = np.where(
        moving, friction * np.sign(velocity), np.clip(motor_torque, -friction, friction)
    )
    return lagged, motor_torque - resisted


class _JointIO:
    """Reading joint velocities and writing torques of the actuated joints."""

    def __init__(self, inner: Any):
        self.client, self.body, self.joints = inner.client, inner.body, list(inner.joints)
        self._read = lambda: self.client.getJointStates(self.body, self.joints)

    def velocities(self) -> np.ndarray:
        states = self._read()
        return np.fromiter((s[1] for s in states), np.float64, len(states))

    def set_torques(self, torques: np.ndarray) -> None:
        self.client.setJointMotorControlArray(
            self.body, self.joints, pybullet.TORQUE_CONTROL, forces=torques.tolist()
        )


class _Wrapper:
    """What a wrapping actuator forwards to the robot's own one."""

    def __init__(self, inner: Any):
        self.inner = inner
        self.parameters = inner.parameters
        self.client, self.body, self.joints = inner.client, inner.body, inner.joints
        self._io = _JointIO(inner)
        self.torques = np.zeros(len(inner.joints))  # the torques at the joints (measured)

    def nominal(self) -> dict[str, np.ndarray]:
        return self.inner.nominal()

    def configure(self, values: Mapping[str, np.ndarray]) -> None:
        self.inner.configure(values)

    def send(self, command: np.ndarray) -> None:
        self.inner.send(command)

    @property
    def in_effect(self) -> np.ndarray:
        return self.inner.in_effect


class DCMotorActuator(_Wrapper):
    """The robot's actuator driving a DC motor (lag, torque-speed limit, Coulomb friction)."""

    def __init__(self, inner: Any, motor: DCMotor, physics_dt: float):
        super().__init__(inner)
        n = len(inner.joints)
        self.motor = DCMotor(*(np.broadcast_to(getattr(motor, f), (n,)) for f in DC_MOTOR_FIELDS))
        self._dt = physics_dt
        self._lagged = np.zeros(n)

    def reset(self) -> None:
        self.inner.reset()
        self._lagged = np.zeros_like(self._lagged)

    def apply(self) -> None:
        commanded = self.inner.commanded_torques()
        self._lagged, self.torques = dc_motor_torque(
            self.motor, self._lagged, commanded, self._io.velocities(), self._dt
        )
        self._io.set_torques(self.torques)

    def describe(self) -> dict[str, Any]:
        motor = {f: getattr(self.motor, f).tolist() for f in DC_MOTOR_FIELDS}
        return {**self.inner.describe(), "dc_motor": motor}


class ActuatorNetwork:
    """The MLP of ``sim2real fit-actuator``, evaluated with numpy (weights from an .npz).

    Input (one row): for each of the last ``history`` steps, newest first, the commands then
    the joint velocities of the actuated joints; standardized with the stored mean and std.
    Output: torques divided by ``torque_scale``; hidden layers use tanh.
    """

    def __init__(self, directory: str | Path):
        """Load ``directory`` (written by fit-actuator); ``UserError`` if it does not fit."""
        directory = Path(directory)
        self.directory = directory
        try:
            meta = json.loads((directory / NETWORK_FILE).read_text())
            self.history = int(meta["history"])
            self.joint_names = tuple(meta["joint_names"])
            with np.load(directory / WEIGHTS_FILE, allow_pickle=False) as arrays:
                layers = int(meta["layers"])
                self.weights = [arrays[f"w{i}"] for i in range(layers)]
                self.biases = [arrays[f"b{i}"] for i in range(layers)]
                self.input_mean, self.input_std = arrays["input_mean"], arrays["input_std"]
                self.torque_scale = arrays["torque_scale"]
        except (OSError, KeyError, TypeError, ValueError, EOFError, zipfile.BadZipFile) as error:
            raise UserError(
                f"{directory}: not a readable actuator network ({type(error).__name__}: "
                f"{error}); fit it again with `sim2real fit-actuator`"
            ) from None
        self._check_arrays()

    def _check_arrays(self) -> None:
        """Shapes that chain from the inputs to one torque per joint, and finite numbers."""
        inputs, joints = 2 * len(self.joint_names) * self.history, len(self.joint_names)
        shapes = [w.shape for w in self.weights]
        chained = all(len(shape) == 2 for shape in shapes) and all(
            a[0] == b[1] for a, b in zip(shapes, shapes[1:], strict=False)
        )
        if not shapes or not chained or shapes[0][1] != inputs or shapes[-1][0] != joints:
            raise UserError(
                f"{self.directory}: weight shapes {shapes} do not map {inputs} inputs to "
                f"{joints} torques; fit it again with `sim2real fit-actuator`"
            )
        expected = {
            **{f"b{i}": (shape[0],) for i, shape in enumerate(shapes)},
            "input_mean": (inputs,),
            "input_std": (inputs,),
            "torque_scale": (joints,),
        }
        found = {
            **{f"b{i}": b for i, b in enumerate(self.biases)},
            "input_mean": self.input_mean,
            "input_std": self.input_std,
            "torque_scale": self.torque_scale,
        }
        for name, shape in expected.items():
            allowed = (shape, ()) if name == "torque_scale" else (shape,)  # one scale for all
            if np.shape(found[name]) not in allowed:
                raise UserError(
                    f"{self.directory}: '{name}' has shape {np.shape(found[name])}, not {shape}; "
                    "fit it again with `sim2real fit-actuator`"
                )
        arrays = [*self.weights, *found.values()]
        if not all(np.isfinite(a).all() for a in arrays) or not (self.input_std > 0).all():
            raise UserError(
                f"{self.directory}: the network holds NaN or infinite numbers, or a std <= 0; "
                "fit it again with `sim2real fit-actuator`"
            )

    def __call__(self, features: np.ndarray) -> np.ndarray:
        x = (features - self.input_mean) / self.input_std
        for index, (weight, bias) in enumerate(zip(self.weights, self.biases, strict=True)):
            x = x @ weight.T + bias
            if index < len(self.weights) - 1:
                x = np.tanh(x)
        return x * self.torque_scale


def network_features(commands: np.ndarray, velocities: np.ndarray) -> np.ndarray:
    """Rows of network input from histories ``(..., history, joints)``, newest first."""
    both = np.concatenate([commands, velocities], axis=-1)
    return both.reshape(*both.shape[:-2], -1)


class LearnedActuator(_Wrapper):
    """Torques from an actuator network, times the motor strength, held for a control step.

    The network was fitted at the control rate (one row per recorded step), so it runs at the
    first of every ``steps_per_command`` physics steps, on the command in effect then (a
    latency's delayed one included), and its torque is held until the next control step.
    """

    def __init__(self, inner: Any, network: ActuatorNetwork, steps_per_command: int = 1):
        super().__init__(inner)
        n = len(inner.joints)
        self.network = network
        self._commands = np.zeros((network.history, n))
        self._velocities = np.zeros((network.history, n))
        self._strength = np.ones(n)
        self._steps_per_command = steps_per_command
        self._step = 0

    def configure(self, values: Mapping[str, np.ndarray]) -> None:
        self.inner.configure(values)
        self._strength = np.asarray(values["motor_strength"], dtype=np.float64)

    def reset(self) -> None:
        self.inner.reset()
        self._commands[:] = 0.0
        self._velocities[:] = 0.0
        self._step = 0

    def apply(self) -> None:
        if self._step == 0:
            self._commands = np.roll(self._commands, 1, axis=0)
            self._velocities = np.roll(self._velocities, 1, axis=0)
            self._commands[0] = self.inner.in_effect
            self._velocities[0] = self._io.velocities()
            features = network_features(self._commands, self._velocities)
            self.torques = self._strength * self.network(features)
        self._step = (self._step + 1) % self._steps_per_command
        self._io.set_torques(self.torques)

    def describe(self) -> dict[str, Any]:
        return {**self.inner.describe(), "learned": str(self.network.directory)}


# -- the `actuator:` mapping -------------------------------------------------------------


def check_actuator_spec(
    data: Any, where: str, base_dir: Path | None = None, field: str = "actuator"
) -> dict[str, Any]:
    """The ``actuator:`` mapping, checked, paths absolute; ``UserError`` in one line naming
    ``where`` (the file) and ``field`` (its place there)."""
    if not isinstance(data, Mapping) or len(data) != 1 or next(iter(data)) not in ACTUATOR_KINDS:
        raise UserError(
            f"{where}: field '{field}' = {data!r}; must be one of "
            "{dc_motor: {saturation_torque, no_load_speed, time_constant_s, coulomb_friction}} "
            "or {learned: ACT_DIR}"
        )
    kind, value = next(iter(data.items()))
    if kind == "learned":
        return {"learned": str(_network_dir(value, where, base_dir, field))}
    if not isinstance(value, Mapping):
        raise UserError(f"{where}: field '{field}.dc_motor' = {value!r}; must be a mapping")
    unknown = sorted(set(value) - set(DC_MOTOR_FIELDS))
    missing = [key for key in DC_MOTOR_FIELDS if key not in value]
    if unknown or missing:
        name = unknown[0] if unknown else missing[0]
        what = "is not a known field" if unknown else "is required"
        raise UserError(
            f"{where}: field '{field}.dc_motor.{name}' {what}; fields: {', '.join(DC_MOTOR_FIELDS)}"
        )
    checked = {}
    for name in DC_MOTOR_FIELDS:
        item = value[name]
        numbers = item if isinstance(item, list) else [item]
        positive = name in ("saturation_torque", "no_load_speed")
        if not numbers or not all(_valid_number(x, positive) for x in numbers):
            bound = "> 0" if positive else ">= 0"
            raise UserError(
                f"{where}: field '{field}.dc_motor.{name}' = {item!r}; must be a number "
                f"{bound} or a list of them, one per actuated joint"
            )
        checked[name] = [float(x) for x in numbers] if isinstance(item, list) else float(item)
    return {"dc_motor": checked}


def build_actuator(
    spec: Mapping[str, Any], inner: Any, physics_dt: float, where: str, steps_per_command: int = 1
) -> Any:
    """The actuator ``spec`` describes, wrapping the robot's own ``inner`` (whose commands
    arrive every ``steps_per_command`` physics steps of ``physics_dt``)."""
    spec = check_actuator_spec(spec, where)
    n = len(inner.joints)
    if "learned" in spec:
        network = ActuatorNetwork(spec["learned"])
        names = tuple(inner.client.getJointInfo(inner.body, j)[1].decode() for j in inner.joints)
        if network.joint_names != names:
            raise UserError(
                f"{where}: actuator network {spec['learned']} was fitted for joints "
                f"{list(network.joint_names)}, but this robot's are {list(names)}"
            )
        return LearnedActuator(inner, network, steps_per_command)
    values = spec["dc_motor"]
    for name, value in values.items():
        if isinstance(value, list) and len(value) != n:
            raise UserError(
                f"{where}: field 'actuator.dc_motor.{name}' has {len(value)} values; this "
                f"robot has {n} actuated joints (give one number or {n})"
            )
    motor = DCMotor(*(np.asarray(values[f], dtype=np.float64) for f in DC_MOTOR_FIELDS))
    return DCMotorActuator(inner, motor, physics_dt)


def _valid_number(value: Any, positive: bool) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return False
    return value > 0 if positive else value >= 0


def _network_dir(value: Any, where: str, base_dir: Path | None, field: str) -> Path:
    if not isinstance(value, str):
        raise UserError(f"{where}: field '{field}.learned' = {value!r}; must be a directory")
    path = Path(value).expanduser()
    if not path.is_absolute() and not path.is_dir() and base_dir is not None:
        path = base_dir / path  # as given (from the working directory), else next to the file
    path = path.resolve()
    for name in (NETWORK_FILE, WEIGHTS_FILE):
        if not (path / name).is_file():
            raise UserError(
                f"{where}: field '{field}.learned' = {value!r}: no {name} in {path}; "
                "give a directory written by `sim2real fit-actuator`"
            )
    try:
        meta = json.loads((path / NETWORK_FILE).read_text())
    except (OSError, ValueError) as error:
        raise UserError(f"{where}: {path / NETWORK_FILE}: not readable JSON ({error})") from None
    if not isinstance(meta, dict) or meta.get("format_version") != NETWORK_FORMAT:
        raise UserError(
            f"{where}: field '{field}.learned' = {value!r}: not an actuator network of "
            f"format version {NETWORK_FORMAT}; fit it again with `sim2real fit-actuator`"
        )
    try:
        ActuatorNetwork(path)  # every array, now rather than when the first env is made
    except ValueError as error:
        raise UserError(f"{where}: field '{field}.learned': {error}") from None
    return path
