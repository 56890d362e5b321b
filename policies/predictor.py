"""The ``Predictor`` protocol: anything that maps observations to actions, so SB3 models
(through :class:`RunPolicy`) and exported policy bundles are evaluated by the same code.

``predict`` accepts one observation ``(obs_dim,)`` or a batch ``(n, obs_dim)`` and returns
the action(s) with the matching leading shape. A predictor with memory (a recurrent policy)
also has ``reset()``, which rollouts call at the start of every episode.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import gymnasium as gym
import numpy as np

from sim2real.errors import UserError

__all__ = ["Predictor", "RunPolicy", "check_compatible", "load_predictor"]


@runtime_checkable
class Predictor(Protocol):
    def predict(self, observation: np.ndarray, deterministic: bool = True) -> np.ndarray:
        """Action(s) for one observation ``(obs_dim,)`` or a batch ``(n, obs_dim)``."""
        ...


class RunPolicy:
    """An SB3 model from a run directory with its saved observation normalization.

    Inference only: observations are normalized with the statistics saved at the end of
    training (``normalization.npz``), which are never updated here. Holds the LSTM state of
    recurrent policies between calls; :meth:`reset` clears it.
    """

    def __init__(self, model: Any, normalization: Any | None = None, source: str = "<model>"):
        self.model = model
        self.normalization = normalization
        self.source = source
        self.observation_space: gym.spaces.Space = model.observation_space
        self.action_space: gym.spaces.Space = model.action_space
        self._recurrent = hasattr(model.policy, "lstm_actor")
        self.reset()

    @classmethod
    def from_run(cls, run_dir: str | Path, device: str = "cpu") -> RunPolicy:
        """Load the final model of a run (or, if training was cut short, its last checkpoint)."""
        from sim2real.policies.normalization import load_normalization
        from sim2real.runs import Run

        run = Run.open(run_dir)
        model_path, normalization_path = run.policy_files()
        model = run.load_model(path=model_path, device=device)
        normalization = (
            load_normalization(normalization_path) if normalization_path.is_file() else None
        )
        return cls(model, normalization, source=str(model_path))

    def reset(self) -> None:
        """Forget the recurrent state: the next call starts a new episode."""
        self._state: Any = None
        self._episode_start: np.ndarray | None = None

    def predict(self, observation: np.ndarray, deterministic: bool = True) -> np.ndarray:
        obs = np.asarray(observation, dtype=np.float32)
        if self.normalization is not None:
            obs = np.asarray(self.normalization.normalize_obs(obs), dtype=np.float32)
        if not self._recurrent:
            action, _ = self.model.predict(obs, deterministic=deterministic)
            return action
        batch = 1 if obs.shape == self.observation_space.shape else obs.shape[0]
        if self._episode_start is None or self._episode_start.size != batch:
            self._state, self._episode_start = None, np.ones(batch, dtype=bool)  # new episodes
        action, self._state = self.model.predict(
            obs, state=self._state, episode_start=self._episode_start, deterministic=deterministic
        )
        self._episode_start = np.zeros(batch, dtype=bool)
        return action


def load_predictor(path: str | Path, device: str = "cpu") -> Predictor:
    """A predictor from a run directory (``run.json``; ``zoo:NAME`` is one), an export
    (``contract.json``: bundle, ONNX or TorchScript) or a bare policy bundle
    (``metadata.json``)."""
    from sim2real.policies.zoo import resolve_source

    path = resolve_source(path)
    if (path / "run.json").is_file():
        from sim2real.transfer.rma.layout import is_student_run

        if is_student_run(path):
            from sim2real.transfer.rma.student import StudentPolicy

            return StudentPolicy.from_run(path, device=device)
        from sim2real.policies.history import with_history
        from sim2real.runs import Run

        steps = Run.open(path).config.env.history_steps
        return with_history(RunPolicy.from_run(path, device=device), steps)
    if (path / "contract.json").is_file():
        from sim2real.policies.exported import load_exported

        return load_exported(path)
    if (path / "metadata.json").is_file():
        from sim2real.policies.bundle import load_bundle

        return load_bundle(path)
    raise UserError(
        f"{path}: not a run directory (no run.json), an exported policy (no contract.json) "
        "nor a policy bundle (no metadata.json)"
    )


def check_compatible(
    predictor: Predictor, env: gym.Env, name: str, env_id: str, trained_on: str | None = None
) -> None:
    """Raise a one-line :class:`UserError` unless ``predictor`` acts in ``env``'s spaces.

    Uses the declared spaces when the predictor has them (SB3 models), otherwise probes it
    with one observation of the env and checks the action's shape (bundles). ``trained_on``:
    the policy's own env id, named in the message where it is another.
    """
    hint = (
        f"it was trained on {trained_on}"
        if trained_on and trained_on != env_id
        else "evaluate it on the env it was trained for"
    )
    obs_shape = env.observation_space.shape
    act_shape = env.action_space.shape
    declared = getattr(predictor, "observation_space", None)
    if declared is not None and declared.shape != obs_shape:
        raise UserError(
            f"{name}: policy observation shape {declared.shape} does not match {env_id} "
            f"observation shape {obs_shape}; {hint}"
        )
    declared_action = getattr(predictor, "action_space", None)
    if declared_action is not None and declared_action.shape != act_shape:
        raise UserError(
            f"{name}: policy action shape {declared_action.shape} does not match {env_id} "
            f"action shape {act_shape}; {hint}"
        )
    if not _same_bounds(declared_action, env.action_space):
        raise UserError(
            f"{name}: policy action bounds {_bounds(declared_action)} do not match {env_id} "
            f"action bounds {_bounds(env.action_space)}; {hint}"
        )
    probe = np.asarray(env.observation_space.sample() * 0, dtype=np.float32)
    try:
        action = np.asarray(predictor.predict(probe, deterministic=True))
    except (ValueError, RuntimeError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        raise UserError(
            f"{name}: policy cannot act on {env_id} observations of shape {obs_shape} "
            f"({first_line})"
        ) from None
    finally:
        if hasattr(predictor, "reset"):
            predictor.reset()
    if action.shape != act_shape:
        raise UserError(
            f"{name}: policy returns actions of shape {action.shape}; {env_id} expects "
            f"{act_shape}; {hint}"
        )


def _same_bounds(declared: Any, actual: gym.spaces.Space) -> bool:
    """Box bounds agree (a policy maps its output into its own bounds); True when unknown."""
    if not (isinstance(declared, gym.spaces.Box) and isinstance(actual, gym.spaces.Box)):
        return True
    return bool(
        np.array_equal(declared.low, actual.low) and np.array_equal(declared.high, actual.high)
    )


def _bounds(space: gym.spaces.Box) -> str:
    text = (
        f"[{np.array2string(space.low, threshold=6)}, {np.array2string(space.high, threshold=6)}]"
    )
    return " ".join(text.split())
