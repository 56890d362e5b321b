"""Recorded target data: the one reader and writer of the ``.npz`` format (version 1).

A file holds episodes recorded on a target (or a real robot) and never the dynamics values
behind them. ``numpy.load(path, allow_pickle=False)`` reads it; its arrays are:

=======================  ===============  ==============================================
key                      shape, dtype     meaning
=======================  ===============  ==============================================
format_version           (), int64        1
env_id                   (), str          e.g. ``sim2real/Hopper-v0``
control_dt               (), float64      seconds between actions
policy                   (), str          what chose the actions (``random``, a run path)
observation_names        (O,), str        observation layout
action_names             (A,), str        action layout
joint_names              (J,), str        every non-fixed joint of the robot
base_name                (), str          the link whose pose is ``base_*``
episode_lengths          (E,), int64      steps per episode; S = their sum
observations             (S+E, O), f32    what the policy saw, the reset one first
joint_positions          (S+E, J), f64    measured state after the reset and each step
joint_velocities         (S+E, J), f64
base_position            (S+E, 3), f64    world frame, the base link's centre of mass
base_orientation         (S+E, 4), f64    quaternion x, y, z, w
base_linear_velocity     (S+E, 3), f64
base_angular_velocity    (S+E, 3), f64
actions                  (S, A), f64      actions as sent to the env (before its channels)
rewards                  (S,), f64
terminated, truncated    (S,), bool
actuated_joint_names     (A,), str        optional: the joints the actions drive
joint_torques            (S, A), f64      optional: torque each of them received, mean
                                          over the step (measured; N*m, N on sliders)
=======================  ===============  ==============================================

Episode ``e`` owns steps ``sum(L[:e]) .. + L[e]`` and state rows ``sum(L[:e]) + e ..`` (one
more row than steps). The torques are optional (a robot may not measure them; files of
sim2real before 0.1 lack them): ``sim2real fit-actuator`` needs them, nothing else does.
Files are written atomically (:mod:`sim2real.io`); a file whose version,
keys, shapes or env do not fit is refused with one line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sim2real.errors import UserError
from sim2real.io import read_npz, write_npz
from sim2real.state import STATE_FIELDS, StateIO, state_vector

__all__ = ["FORMAT_VERSION", "RecordedData", "check_env", "load_data", "save_data"]

FORMAT_VERSION = 1


@dataclass(frozen=True)
class RecordedData:
    """The arrays of one data file (see the module docstring for shapes)."""

    env_id: str
    control_dt: float
    policy: str
    observation_names: tuple[str, ...]
    action_names: tuple[str, ...]
    joint_names: tuple[str, ...]
    base_name: str
    episode_lengths: np.ndarray
    observations: np.ndarray
    state: Mapping[str, np.ndarray]  # STATE_FIELDS -> (S+E, width)
    actions: np.ndarray
    rewards: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    actuated_joint_names: tuple[str, ...] = ()  # with joint_torques, or empty
    joint_torques: np.ndarray | None = None  # (S, A) measured torques, when recorded

    @property
    def episodes(self) -> int:
        return len(self.episode_lengths)

    @property
    def steps(self) -> int:
        return int(self.episode_lengths.sum())

    def step_start(self, episode: int) -> int:
        """Index of the episode's first step (into actions, rewards, ...)."""
        return int(self.episode_lengths[:episode].sum())

    def state_start(self, episode: int) -> int:
        """Row of the episode's first (reset) state."""
        return self.step_start(episode) + episode

    def state_matrix(self) -> np.ndarray:
        """Every state row as one vector (:func:`sim2real.state.state_vector`): ``(S+E, D)``."""
        return state_vector(self.state)

    def episode_returns(self) -> np.ndarray:
        """Undiscounted return of each episode: ``(E,)``."""
        starts = np.concatenate([[0], np.cumsum(self.episode_lengths)[:-1]])
        return np.add.reduceat(self.rewards, starts)


def save_data(path: str | Path, data: RecordedData) -> Path:
    """Write ``data`` to ``path`` (compressed ``.npz``), atomically."""
    arrays: dict[str, np.ndarray] = {
        "format_version": np.array(FORMAT_VERSION, dtype=np.int64),
        "env_id": np.array(data.env_id),
        "control_dt": np.array(data.control_dt, dtype=np.float64),
        "policy": np.array(data.policy),
        "observation_names": np.array(data.observation_names, dtype=str),
        "action_names": np.array(data.action_names, dtype=str),
        "joint_names": np.array(data.joint_names, dtype=str),
        "base_name": np.array(data.base_name),
        "episode_lengths": np.asarray(data.episode_lengths, dtype=np.int64),
        "observations": np.asarray(data.observations, dtype=np.float32),
        **{name: np.asarray(data.state[name], dtype=np.float64) for name in STATE_FIELDS},
        "actions": np.asarray(data.actions, dtype=np.float64),
        "rewards": np.asarray(data.rewards, dtype=np.float64),
        "terminated": np.asarray(data.terminated, dtype=bool),
        "truncated": np.asarray(data.truncated, dtype=bool),
    }
    if data.joint_torques is not None:
        arrays["actuated_joint_names"] = np.array(data.actuated_joint_names, dtype=str)
        arrays["joint_torques"] = np.asarray(data.joint_torques, dtype=np.float64)
    _check_shapes(arrays, str(path))
    return write_npz(path, arrays, compressed=True)


def load_data(path: str | Path) -> RecordedData:
    """Read and check a data file; any problem is a one-line :class:`UserError`."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{path}: is a directory; give a data file (.npz of `sim2real record`)")
    if not path.is_file():
        raise UserError(f"{path}: data file does not exist; record one with `sim2real record`")
    arrays = read_npz(path, "a readable .npz data file")
    _check_version(arrays, str(path))
    _check_shapes(arrays, str(path))
    torques = "joint_torques" in arrays
    return RecordedData(
        env_id=str(arrays["env_id"]),
        control_dt=float(arrays["control_dt"]),
        policy=str(arrays["policy"]),
        observation_names=tuple(arrays["observation_names"].tolist()),
        action_names=tuple(arrays["action_names"].tolist()),
        joint_names=tuple(arrays["joint_names"].tolist()),
        base_name=str(arrays["base_name"]),
        episode_lengths=arrays["episode_lengths"],
        observations=arrays["observations"],
        state={name: arrays[name] for name in STATE_FIELDS},
        actions=arrays["actions"],
        rewards=arrays["rewards"],
        terminated=arrays["terminated"],
        truncated=arrays["truncated"],
        actuated_joint_names=tuple(arrays["actuated_joint_names"].tolist()) if torques else (),
        joint_torques=arrays["joint_torques"] if torques else None,
    )


def check_env(data: RecordedData, env: Any, where: str) -> None:
    """Refuse data recorded on another env or with another layout than ``env``'s robot."""
    unwrapped = env.unwrapped
    env_id = getattr(unwrapped.spec, "id", None) or data.env_id
    expected = {
        "env id": (data.env_id, env_id),
        "control period (s)": (data.control_dt, float(unwrapped.control_dt)),
        "observation names": (data.observation_names, tuple(unwrapped.observation_names)),
        "action names": (data.action_names, tuple(unwrapped.action_names)),
        "joint names": (data.joint_names, StateIO(unwrapped).joint_names),
    }
    for what, (found, wanted) in expected.items():
        if found != wanted:
            raise UserError(
                f"{where}: recorded with {what} {_difference(found, wanted, env_id)}; record "
                "data on the env you identify"
            )
    high = np.asarray(unwrapped.action_space.high, dtype=np.float64)
    beyond = np.abs(data.actions) > high * (1 + 1e-6)
    if beyond.any():  # the replay would clip them: another command than the robot's
        step, index = (int(i) for i in np.argwhere(beyond)[0])
        raise UserError(
            f"{where}: action {data.action_names[index]!r} at step {step} is "
            f"{data.actions[step, index]:g}, beyond {env_id}'s bound of {high[index]:g} that "
            "the replay clips to (a policy trained with another action_clip); identify only "
            "data within the default action bounds"
        )


# -- checks --------------------------------------------------------------------------

_SCALARS = ("format_version", "env_id", "control_dt", "policy", "base_name")
_NAMES = ("observation_names", "action_names", "joint_names")


def _check_version(arrays: Mapping[str, np.ndarray], where: str) -> None:
    if "format_version" not in arrays:
        raise UserError(f"{where}: not a sim2real data file (no 'format_version' array)")
    version = arrays["format_version"]
    if version.shape != () or version.dtype.kind not in "iu" or int(version) != FORMAT_VERSION:
        raise UserError(
            f"{where}: data format version {version.tolist()!r}; this sim2real reads version "
            f"{FORMAT_VERSION}: record the data again"
        )


def _check_shapes(arrays: Mapping[str, np.ndarray], where: str) -> None:
    """Every key present, with the shapes the format says (rows per step or per state)."""
    expected = (*_SCALARS, *_NAMES, "episode_lengths", "observations", *STATE_FIELDS)
    expected += ("actions", "rewards", "terminated", "truncated")
    missing = [key for key in expected if key not in arrays]
    if missing:
        raise UserError(f"{where}: not a sim2real data file; missing array(s) {', '.join(missing)}")
    for key in _SCALARS:
        if arrays[key].shape != ():
            shape = arrays[key].shape
            raise UserError(f"{where}: '{key}' must be a single value, got shape {shape}")
    control_dt = arrays["control_dt"]
    if control_dt.dtype.kind != "f" or not np.isfinite(control_dt) or control_dt <= 0:
        raise UserError(
            f"{where}: 'control_dt' = {control_dt.tolist()!r}; must be the control period, a "
            "finite number of seconds > 0"
        )
    lengths = arrays["episode_lengths"]
    if lengths.ndim != 1 or not lengths.size or lengths.dtype.kind not in "iu" or lengths.min() < 1:
        raise UserError(f"{where}: 'episode_lengths' must list at least one episode of >= 1 step")
    steps, rows = int(lengths.sum()), int(lengths.sum()) + lengths.size
    widths = {
        "observations": (rows, len(arrays["observation_names"])),
        "actions": (steps, len(arrays["action_names"])),
        "rewards": (steps,),
        "terminated": (steps,),
        "truncated": (steps,),
    }
    joints = len(arrays["joint_names"])
    for name, width in STATE_FIELDS.items():
        widths[name] = (rows, joints if width is None else width)
    if ("joint_torques" in arrays) != ("actuated_joint_names" in arrays):
        raise UserError(f"{where}: 'joint_torques' and 'actuated_joint_names' come together")
    if "joint_torques" in arrays:
        names = arrays["actuated_joint_names"]
        if names.ndim != 1 or not set(names.tolist()) <= set(arrays["joint_names"].tolist()):
            raise UserError(f"{where}: 'actuated_joint_names' must name joints of 'joint_names'")
        widths["joint_torques"] = (steps, len(names))
    for key, shape in widths.items():
        if arrays[key].shape != shape:
            raise UserError(
                f"{where}: '{key}' has shape {arrays[key].shape}; {lengths.size} episode(s) of "
                f"{steps} steps need {shape}"
            )
        if arrays[key].dtype.kind == "f" and not np.isfinite(arrays[key]).all():
            raise UserError(f"{where}: '{key}' holds NaN or infinite values")


def _difference(found: object, wanted: object, env_id: str) -> str:
    """Where two values differ: for two name lists, the first entry that does, as lists
    that share a long start would show the same truncated text."""
    if not (isinstance(found, tuple) and isinstance(wanted, tuple)):
        return f"{_short(found)}, but {env_id} has {_short(wanted)}"
    index = next(
        (i for i, (a, b) in enumerate(zip(found, wanted, strict=False)) if a != b),
        min(len(found), len(wanted)),
    )

    def entry(names: tuple) -> str:
        return repr(names[index]) if index < len(names) else "nothing"

    return (
        f"({len(found)} of them) {entry(found)} at position {index}, but {env_id} has "
        f"{entry(wanted)} there ({len(wanted)} of them)"
    )


def _short(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
