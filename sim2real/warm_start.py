"""``init_from:``: a training run that starts from another run's policy.

A curriculum of configs as ordinary, resumable runs: the A1 learns to walk on nominal dynamics
(``--set randomization=null``), then a second run of the DR config with ``init_from:`` set to
the first one trains on under the full randomization. Copied: the policy's weights (actor and
critic) and, where observations are normalized, their running statistics, which go on
updating. Not copied: optimizer state, replay buffer and step count (the new run's schedules
and learning starts run over its own budget). A resumed run continues from its own
checkpoints, never from ``init_from`` again.
"""

from __future__ import annotations

from typing import Any

from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecEnv, VecNormalize

from sim2real.config import ExperimentConfig
from sim2real.errors import UserError
from sim2real.policies.normalization import load_normalization
from sim2real.runs import Run


def load_initial_policy(
    cfg: ExperimentConfig, model: BaseAlgorithm, venv: VecEnv, source: str
) -> dict[str, Any]:
    """Copy ``cfg.init_from``'s policy into ``model`` (and its statistics into ``venv``),
    every check first; what run.json records of it."""
    assert cfg.init_from is not None
    where = f"{source}: field 'init_from' = {cfg.init_from!r}"
    try:
        origin = Run.open(cfg.init_from)
        model_path, normalization_path = origin.policy_files()
    except UserError as error:
        raise UserError(f"{where}: {error}") from None
    algorithm = origin.meta.get("algorithm")
    if algorithm != cfg.algorithm.name:
        raise UserError(f"{where}: a {algorithm} run; this config trains {cfg.algorithm.name}")
    if origin.config.adaptation is not None:
        raise UserError(f"{where}: an adaptation run; start from a plain run (its teacher/)")
    if origin.config.normalize.observations != cfg.normalize.observations:
        raise UserError(
            f"{where}: normalize.observations is {origin.config.normalize.observations} there "
            f"and {cfg.normalize.observations} here; the policy's inputs would change"
        )
    other = origin.load_model(device="cpu", path=model_path)
    _check_spaces(where, other, model)
    state, expected = other.policy.state_dict(), model.policy.state_dict()
    for name, tensor in expected.items():
        found = state.get(name)
        if found is None or found.shape != tensor.shape:
            shape = "missing" if found is None else tuple(found.shape)
            raise UserError(
                f"{where}: another network ({name}: {shape} there, {tuple(tensor.shape)} "
                "here); give both runs the same policy_kwargs"
            )
    model.policy.load_state_dict({name: state[name] for name in expected})
    if isinstance(venv, VecNormalize) and cfg.normalize.observations:
        load_normalization(normalization_path).restore_into(venv)
    return {
        "run": str(origin.path),
        "model": str(model_path),
        "timesteps": int(origin.meta.get("timesteps", 0)),
    }


def _check_spaces(where: str, other: BaseAlgorithm, model: BaseAlgorithm) -> None:
    for kind in ("observation_space", "action_space"):
        there, here = getattr(other, kind), getattr(model, kind)
        if there.shape != here.shape or type(there) is not type(here):
            raise UserError(f"{where}: its {kind.replace('_', ' ')} is {there}, this env's {here}")
