"""``init_from:``: a training run that starts from another run's policy.

A curriculum of configs as ordinary, resumable runs: the A1 learns to walk on nominal dynamics
(``--set randomization=null``), then a second run of the DR config with ``init_from:`` set to
the first one trains on under the full randomization. Copied: the policy's weights (actor and
critic), SAC's and TQC's learned entropy coefficient and, where observations are normalized,
their running mean, variance and count, which go on updating (clipping and the reward
statistics are the new config's). Not copied: optimizer state, replay buffer and step count
(the new run's schedules and ``learning_starts`` run over its own budget). A resumed run
continues from its own checkpoints, never from ``init_from`` again.

An asymmetric run (``algorithm.asymmetric: true`` on privileged envs) may start from a plain
run whose observation is its deployable part: the actor is copied as it is, and each critic
layer that reads the observation gets zero weights for the privileged entries, so the critic
starts as the source's and learns to use what it now sees. Normalization statistics cover the
deployable entries; the privileged ones start fresh.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecEnv, VecNormalize

from sim2real.config import ExperimentConfig
from sim2real.errors import UserError
from sim2real.policies.asymmetric import deployable_size
from sim2real.policies.normalization import load_normalization
from sim2real.runs import Run


def load_initial_policy(
    cfg: ExperimentConfig, model: BaseAlgorithm, venv: VecEnv, source: str, run_dir: Path
) -> dict[str, Any]:
    """Copy ``cfg.init_from``'s policy into ``model`` (and its statistics into ``venv``),
    every check first; what run.json records of it. ``run_dir`` is the run being written."""
    assert cfg.init_from is not None
    where = f"{source}: field 'init_from' = {cfg.init_from!r}"
    try:
        origin = Run.open(cfg.init_from)
        model_path, normalization_path = origin.policy_files()
    except UserError as error:
        raise UserError(f"{where}: {error}") from None
    written, start = run_dir.resolve(), origin.path.resolve()
    if written == start or written in start.parents or start in written.parents:
        raise UserError(
            f"{where}: the run directory {run_dir} would replace it; give another --run-dir"
        )
    _check_same_setup(where, origin.config, cfg, origin.meta.get("algorithm"))
    other = origin.load_model(device="cpu", path=model_path)
    privileged = _check_spaces(where, other, model)
    state, expected = other.policy.state_dict(), model.policy.state_dict()
    matching = {
        name: _matching(where, name, state.get(name), tensor, privileged)
        for name, tensor in expected.items()
    }
    model.policy.load_state_dict(matching)
    _copy_entropy_coefficient(other, model)
    if isinstance(venv, VecNormalize) and cfg.normalize.observations:
        statistics = load_normalization(normalization_path)
        known = statistics.obs_mean.shape[0]  # the deployable entries, privileged ones after
        venv.obs_rms.mean[:known] = statistics.obs_mean
        venv.obs_rms.var[:known] = statistics.obs_var
        venv.obs_rms.count = statistics.obs_count
    return {
        "run": str(origin.path),
        "model": str(model_path),
        "timesteps": int(origin.meta.get("timesteps", 0)),
    }


def _check_spaces(where: str, other: BaseAlgorithm, model: BaseAlgorithm) -> slice | None:
    """Matching spaces (None), or the columns of the privileged entries that an asymmetric
    ``model`` adds to the observation of a plain ``other``."""
    privileged = _privileged_columns(other, model)
    for kind in ("observation_space", "action_space"):
        there, here = getattr(other, kind), getattr(model, kind)
        if privileged is not None and kind == "observation_space":
            continue
        if there.shape != here.shape or type(there) is not type(here):
            raise UserError(f"{where}: its {kind.replace('_', ' ')} is {there}, this env's {here}")
    return privileged


def _privileged_columns(other: BaseAlgorithm, model: BaseAlgorithm) -> slice | None:
    deployable = deployable_size(model)
    observed = other.observation_space.shape
    if deployable is None or deployable_size(other) is not None or observed != (deployable,):
        return None
    return slice(deployable, model.observation_space.shape[0])


def _matching(
    where: str, name: str, found: torch.Tensor | None, tensor: torch.Tensor, added: slice | None
) -> torch.Tensor:
    """The source's ``found`` for this model's ``tensor``; a critic layer that now also reads the
    privileged entries gets zero weights for them (inserted where they sit in its input)."""
    if found is not None and found.shape == tensor.shape:
        return found
    if found is not None and added is not None and _reads_privileged(found, tensor, added):
        widened = torch.zeros_like(tensor)
        widened[:, : added.start] = found[:, : added.start]
        widened[:, added.stop :] = found[:, added.start :]
        return widened
    shape = "missing" if found is None else tuple(found.shape)
    raise UserError(
        f"{where}: another network ({name}: {shape} there, {tuple(tensor.shape)} here); "
        "give both runs the same policy_kwargs"
    )


def _reads_privileged(found: torch.Tensor, tensor: torch.Tensor, added: slice) -> bool:
    return (
        found.ndim == tensor.ndim == 2
        and found.shape[0] == tensor.shape[0]
        and found.shape[1] + added.stop - added.start == tensor.shape[1]
        and found.shape[1] >= added.start
    )


def _check_same_setup(
    where: str, there: ExperimentConfig, here: ExperimentConfig, algorithm: Any
) -> None:
    """The source must be a plain run of the same robot, algorithm, network and inputs."""
    if algorithm != here.algorithm.name:
        raise UserError(f"{where}: a {algorithm} run; this config trains {here.algorithm.name}")
    if there.adaptation is not None:
        raise UserError(f"{where}: an adaptation run; start from a run without adaptation:")
    if there.env.id != here.env.id:
        raise UserError(f"{where}: a run of {there.env.id}; this config trains {here.env.id}")
    if there.normalize.observations != here.normalize.observations:
        raise UserError(
            f"{where}: normalize.observations is {there.normalize.observations} there "
            f"and {here.normalize.observations} here; the policy's inputs would change"
        )
    network = (_network(there), _network(here))
    if network[0] != network[1]:
        raise UserError(
            f"{where}: policy_kwargs {network[0]} there, {network[1]} here; "
            "the network must be the same"
        )


def _network(cfg: ExperimentConfig) -> dict[str, Any]:
    """The policy_kwargs that shape the network (an initial log std does not)."""
    kwargs = dict(cfg.algorithm.hyperparams.get("policy_kwargs", {}))
    kwargs.pop("log_std_init", None)
    return kwargs


def _copy_entropy_coefficient(other: BaseAlgorithm, model: BaseAlgorithm) -> None:
    """SAC / TQC with ``ent_coef: auto`` learn it: keep the source's, not a fresh 1.0."""
    learned, fresh = getattr(other, "log_ent_coef", None), getattr(model, "log_ent_coef", None)
    if isinstance(learned, torch.Tensor) and isinstance(fresh, torch.Tensor):
        with torch.no_grad():
            fresh.copy_(learned.to(fresh.device))
