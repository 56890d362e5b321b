"""VecNormalize statistics as plain arrays (``.npz``): saved without pickles, loaded without SB3.

SB3's own ``VecNormalize.save`` pickles the whole wrapper, env included; a policy bundle or a
checkpoint only needs the running statistics. This module reads them off a ``VecNormalize``,
writes them as named arrays, and puts them back (``restore_into``) or applies them directly
(``normalize_obs``, inference only, the same arithmetic as ``VecNormalize.normalize_obs``).
Only flat ``Box`` observations are supported, which is what every sim2real world has.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sim2real.errors import UserError
from sim2real.io import read_npz, write_npz

if TYPE_CHECKING:  # SB3 (and torch) are not needed to read or apply the statistics
    from stable_baselines3.common.vec_env import VecEnv, VecNormalize

FORMAT_VERSION = 1
_SCALARS = (
    "obs_count",
    "ret_mean",
    "ret_var",
    "ret_count",
    "clip_obs",
    "clip_reward",
    "gamma",
    "epsilon",
)
_FLAGS = ("norm_obs", "norm_reward")


@dataclass(frozen=True)
class Normalization:
    """Running statistics of a ``VecNormalize``; obs arrays are empty when ``norm_obs`` is off."""

    norm_obs: bool
    norm_reward: bool
    obs_mean: np.ndarray
    obs_var: np.ndarray
    obs_count: float
    ret_mean: float
    ret_var: float
    ret_count: float
    clip_obs: float
    clip_reward: float
    gamma: float
    epsilon: float

    @classmethod
    def from_vec_normalize(cls, venv: VecNormalize) -> Normalization:
        rms = getattr(venv, "obs_rms", None) if venv.norm_obs else None
        if isinstance(rms, dict):
            raise TypeError("dict observation spaces are not supported; sim2real worlds use Box")
        empty = np.zeros(0, dtype=np.float64)
        return cls(
            norm_obs=bool(venv.norm_obs),
            norm_reward=bool(venv.norm_reward),
            obs_mean=np.array(rms.mean, dtype=np.float64) if rms is not None else empty,
            obs_var=np.array(rms.var, dtype=np.float64) if rms is not None else empty,
            obs_count=float(rms.count) if rms is not None else 0.0,
            ret_mean=float(venv.ret_rms.mean),
            ret_var=float(venv.ret_rms.var),
            ret_count=float(venv.ret_rms.count),
            clip_obs=float(venv.clip_obs),
            clip_reward=float(venv.clip_reward),
            gamma=float(venv.gamma),
            epsilon=float(venv.epsilon),
        )

    def normalize_obs(self, obs: np.ndarray) -> np.ndarray:
        """Normalize observations with frozen statistics (inference; nothing is updated)."""
        if not self.norm_obs:
            return np.asarray(obs)
        scaled = (np.asarray(obs) - self.obs_mean) / np.sqrt(self.obs_var + self.epsilon)
        return np.clip(scaled, -self.clip_obs, self.clip_obs).astype(np.float32)

    def restore_into(self, venv: VecNormalize) -> None:
        """Copy the statistics into ``venv``; its ``training`` and ``norm_reward`` stay as set.

        Evaluation envs keep ``training=False, norm_reward=False``; a resumed training env
        keeps updating from where the statistics left off.
        """
        if bool(venv.norm_obs) != self.norm_obs:
            raise ValueError(
                f"normalization statistics have norm_obs={self.norm_obs} but the VecNormalize "
                f"has norm_obs={venv.norm_obs}"
            )
        if self.norm_obs:
            shape = tuple(venv.observation_space.shape)
            if self.obs_mean.shape != shape:
                raise ValueError(
                    f"normalization statistics are for observations of shape "
                    f"{self.obs_mean.shape}, the env's have shape {shape}"
                )
            venv.obs_rms.mean = self.obs_mean.copy()
            venv.obs_rms.var = self.obs_var.copy()
            venv.obs_rms.count = self.obs_count
        venv.ret_rms.mean = np.float64(self.ret_mean)
        venv.ret_rms.var = np.float64(self.ret_var)
        venv.ret_rms.count = self.ret_count
        venv.clip_obs, venv.clip_reward = self.clip_obs, self.clip_reward
        venv.gamma, venv.epsilon = self.gamma, self.epsilon

    def inference_env(self, venv: VecEnv) -> VecNormalize:
        """Wrap ``venv`` for evaluation: frozen statistics, raw rewards."""
        from stable_baselines3.common.vec_env import VecNormalize

        wrapped = VecNormalize(
            venv, training=False, norm_obs=self.norm_obs, norm_reward=False, clip_obs=self.clip_obs
        )
        self.restore_into(wrapped)
        return wrapped

    def to_arrays(self) -> dict[str, np.ndarray]:
        arrays: dict[str, np.ndarray] = {
            "format_version": np.array(FORMAT_VERSION),
            "obs_mean": self.obs_mean,
            "obs_var": self.obs_var,
        }
        arrays.update({name: np.array(getattr(self, name), np.float64) for name in _SCALARS})
        arrays.update({name: np.array(getattr(self, name), np.bool_) for name in _FLAGS})
        return arrays


def save_normalization(venv: VecNormalize | Normalization, path: str | Path) -> Path:
    """Write the statistics of ``venv`` to ``path`` atomically."""
    stats = venv if isinstance(venv, Normalization) else Normalization.from_vec_normalize(venv)
    return write_npz(path, stats.to_arrays())


def load_normalization(path: str | Path) -> Normalization:
    """Read statistics written by :func:`save_normalization` (no pickles are loaded)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: normalization statistics not found")
    arrays = read_npz(path, "a normalization .npz file")
    required = ("format_version", "obs_mean", "obs_var", *_SCALARS, *_FLAGS)
    missing = [name for name in required if name not in arrays]
    if missing:
        raise UserError(f"{path}: missing field(s) {', '.join(missing)}; expected {required}")
    for name in ("format_version", *_SCALARS, *_FLAGS):
        _check_scalar(path, name, arrays[name])
    version = int(arrays["format_version"])
    if version != FORMAT_VERSION:
        raise UserError(
            f"{path}: field 'format_version' = {version}; this sim2real reads {FORMAT_VERSION}"
        )
    values: dict[str, Any] = {name: float(arrays[name]) for name in _SCALARS}
    values.update({name: bool(arrays[name]) for name in _FLAGS})
    mean, var = _obs_arrays(path, arrays["obs_mean"], arrays["obs_var"])
    return Normalization(obs_mean=mean, obs_var=var, **values)


def _check_scalar(path: Path, name: str, array: np.ndarray) -> None:
    if array.shape != () or array.dtype.kind not in "biuf" or not np.isfinite(array):
        raise UserError(
            f"{path}: field '{name}' = {_short(array)}; must be one finite number; "
            "the file is damaged"
        )


def _obs_arrays(path: Path, mean: np.ndarray, var: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Observation mean and variance: one finite value per observation, variances >= 0."""
    for name, array in (("obs_mean", mean), ("obs_var", var)):
        if array.ndim != 1 or array.dtype.kind not in "biuf" or not np.all(np.isfinite(array)):
            raise UserError(
                f"{path}: field '{name}' = {_short(array)}; must be a 1-D array of finite "
                "numbers; the file is damaged"
            )
    if mean.shape != var.shape or np.any(var < 0):
        raise UserError(
            f"{path}: fields 'obs_mean' and 'obs_var' must have one value per observation "
            "and variances >= 0; the file is damaged"
        )
    return mean.astype(np.float64), var.astype(np.float64)


def _short(array: np.ndarray) -> str:
    text = " ".join(repr(array).split())
    return text if len(text) <= 60 else text[:57] + "..."
