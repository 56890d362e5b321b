"""``init_from:``: a training run that starts from another run's policy.

A curriculum of configs as ordinary, resumable runs: the A1 learns to walk on nominal dynamics
(``--set randomization=null``), then a second run of the DR config with ``init_from:`` set to
the first one trains on under the full randomization. Copied: the policy's weights (actor and
critic), SAC's and TQC's learned entropy coefficient and, where observations are normalized,
their running mean, variance and count, which go on updating (clipping and the reward
statistics are the new config's). Not copied: optimizer state, replay buffer and step count
(the new run's schedules and ``learning_starts`` run over its own budget). A resumed run
continues from its own checkpoints, never from ``init_from`` again.

A run may read more than the run it starts from: an asymmetric one (``algorithm.asymmetric:
true`` on privileged envs), whose critic also reads the privileged entries; one whose env
observes more (a robot's optional entries, such as the A1's gait clock, matched to the
source's by name); and a history one (``env.history_steps: k``), which reads the last k
observations and actions (on privileged envs the latest privileged entries follow them, so
an asymmetric source starts an asymmetric history run). Each layer that reads the observation
keeps the source's weights for the entries the source read (a history run's latest
observation) and gets zero weights for the new ones, so the new policy starts acting and
valuing exactly as the source did and learns to use what it now sees. The normalization
statistics go to every entry of the source's kind, by name (each observation of a history);
the new entries (privileged ones, past actions, new sensors) start at mean 0 and variance 1
and, as SB3 keeps one sample count for all entries, follow their data only as slowly as the
source's count allows.

A source that read an entry the new run lacks is refused, naming the entries, with one
exception: an asymmetric run may start an asymmetric run whose spec draws fewer elements. Only
the source's critic read those privileged entries; the new critic leaves their columns out, so
it starts as the source's with them held at their mean (a normalized 0), and the actor is the
source's. Entries are matched by name, a history source's too; a layout of the same width with
other names is refused, as no layer's width would show where its columns moved.

An adaptation run's teacher (``adaptation:``, see :mod:`sim2real.transfer.rma`) starts from a
plain or asymmetric PPO / A2C run of the same robot: its policy body reads ``[o, z]``, the
measured entries (with ``env.history_steps``, their window: from a plain run or a history run
of the same steps) and the privileged encoder's latent. The body's actor takes the source actor's
weights for ``o`` and zero weights for ``z``, so the teacher first acts as the source did and
learns to use the dynamics it is now told; the encoder starts afresh. An asymmetric source's
critic also read the privileged entries, which reach the teacher's critic only through ``z``:
its columns for them are dropped, so the teacher's first value estimates are the source's
without them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecEnv, VecNormalize

from sim2real.config import ExperimentConfig
from sim2real.errors import UserError
from sim2real.policies.asymmetric import deployable_size
from sim2real.policies.normalization import load_normalization
from sim2real.runs import Run, check_run_dir_apart


def load_initial_policy(
    cfg: ExperimentConfig, model: BaseAlgorithm, venv: VecEnv, source: str, run_dir: Path
) -> dict[str, Any]:
    """Copy ``cfg.init_from``'s policy into ``model`` (and its statistics into ``venv``),
    every check first; what run.json records of it. ``run_dir`` is the run being written."""
    where = f"{source}: field 'init_from' = {cfg.init_from!r}"
    origin = check_initial_run(cfg, source, run_dir)
    model_path, normalization_path = origin.policy_files()
    other = origin.load_model(device="cpu", path=model_path)
    state, expected = other.policy.state_dict(), model.policy.state_dict()
    dropped: list[str] = []
    if cfg.adaptation is not None:
        layers, statistics_columns = _teacher_inputs(where, origin.config, cfg, other, model)
        _check_spaces(where, other, model, extended=True)
        matching = {
            name: _teacher_tensor(where, name, state.get(name), tensor, layers)
            for name, tensor in expected.items()
        }
    else:
        inputs, statistics_columns = _input_maps(where, origin.config, cfg, other, model)
        dropped = [name for layer in inputs for name in layer.dropped]
        _check_spaces(where, other, model, extended=bool(inputs))
        matching = {
            name: _matching(where, name, state.get(name), tensor, inputs)
            for name, tensor in expected.items()
        }
    model.policy.load_state_dict(matching)
    _copy_entropy_coefficient(other, model)
    if isinstance(venv, VecNormalize) and cfg.normalize.observations:
        statistics = load_normalization(normalization_path)
        columns = (
            np.arange(statistics.obs_mean.shape[0])
            if statistics_columns is None
            else statistics_columns
        )
        known = columns >= 0
        venv.obs_rms.mean[known] = statistics.obs_mean[columns[known]]
        venv.obs_rms.var[known] = statistics.obs_var[columns[known]]
        venv.obs_rms.count = statistics.obs_count
    record: dict[str, Any] = {
        "run": str(origin.path),
        "model": str(model_path),
        "timesteps": int(origin.meta.get("timesteps", 0)),
    }
    if dropped:  # privileged entries the new spec no longer draws: the critic's alone
        record["left_out_of_critic"] = dropped
    return record


def check_initial_run(cfg: ExperimentConfig, source: str, run_dir: Path) -> Run:
    """``cfg.init_from``'s run, if it can start ``cfg`` in ``run_dir`` by everything its
    run.json and config say (the policy's own spaces are checked as it loads); a one-line
    UserError otherwise. Cheap: callers run it before they write any run directory."""
    assert cfg.init_from is not None
    where = f"{source}: field 'init_from' = {cfg.init_from!r}"
    try:
        origin = Run.read(cfg.init_from, model=False)  # run.json's fields checked, too
        origin.policy_files()
    except UserError as error:
        raise UserError(f"{where}: {error}") from None
    check_run_dir_apart(where, run_dir, origin.path)
    _check_same_setup(where, origin.config, cfg, origin.meta.get("algorithm"))
    return origin


@dataclass(frozen=True)
class _InputMap:
    """How a layer's inputs extend the source's: of ``size`` inputs, entries ``targets`` take
    the weights of the source's entries ``sources`` (of ``source_size``); the rest start at 0.
    ``dropped``: the source's entries the layer no longer reads."""

    targets: np.ndarray
    sources: np.ndarray
    source_size: int
    size: int
    dropped: tuple[str, ...] = ()


def _input_maps(
    where: str,
    there: ExperimentConfig,
    here: ExperimentConfig,
    other: BaseAlgorithm,
    model: BaseAlgorithm,
) -> tuple[tuple[_InputMap, ...], np.ndarray | None]:
    """How the new model's inputs extend the source's (none: the same observation), and per
    new observation entry the source's entry whose normalization statistics it takes (-1:
    none; None: the same observation)."""
    observed = int(other.observation_space.shape[0])
    size = int(model.observation_space.shape[0])
    deployable = deployable_size(model)
    source, names = _observation_names(where, there), _observation_names(where, here)
    if deployable is not None and deployable_size(other) is None and source.privileged:
        raise UserError(
            f"{where}: its actor reads all {observed} entries of a privileged observation; an "
            f"asymmetric run's actor reads the deployable ones only: start from a run without "
            "env.kwargs.privileged"
        )
    source, names = _input_names(there, here, model, source, names)
    if here.env.history_steps and (len(names.all) != size or len(source.all) != observed):
        return (), None  # refused by _check_spaces
    if source.all == names.all:
        return (), None
    return _named_maps(where, source, names, deployable_size(other), deployable)


@dataclass(frozen=True)
class _Names:
    """A config's observation entries by name: what the robot measures, then privileged ones."""

    measured: tuple[str, ...]
    privileged: tuple[str, ...]

    @property
    def all(self) -> tuple[str, ...]:
        return (*self.measured, *self.privileged)


def _named_maps(
    where: str, source: _Names, names: _Names, read: int | None, deployable: int | None
) -> tuple[tuple[_InputMap, ...], np.ndarray]:
    """Entries matched by name: a run whose env observes more (privileged entries, a robot's
    optional sensors such as the A1's gait clock) starts from one that observes less. ``read``
    and ``deployable``: how many entries the source's and the new actor read (None: all)."""
    # An asymmetric run's privileged entries reach its critic alone: one the new spec no
    # longer draws is left out of the critic's columns (as if held at its mean), the actor's
    # inputs untouched. Anywhere else a missing entry is refused.
    droppable = source.privileged if deployable is not None else ()
    layers = [(source.all, names.all, "observation", droppable)]
    if deployable is not None:  # the asymmetric actor reads the deployable slice only
        layers.append(
            (source.all[: read or None], names.all[:deployable], "actor's observation", ())
        )
    maps = tuple(_input_map(where, *layer) for layer in layers)
    return maps, _statistics_columns(source, names)


def _input_map(
    where: str,
    known: tuple[str, ...],
    new: tuple[str, ...],
    what: str,
    droppable: tuple[str, ...] = (),
) -> _InputMap:
    """A layer that read ``known`` entries and now reads ``new`` ones, every known one kept
    but those ``droppable`` that ``new`` lacks."""
    position = {name: index for index, name in enumerate(new)}
    absent = tuple(name for name in known if name not in position)
    missing = [name for name in absent if name not in droppable]
    if missing:
        raise UserError(
            f"{where}: it reads {len(missing)} entries this run's {what} lacks "
            f"({', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''}); a run may "
            "only observe more than the run it starts from"
        )
    if len(known) == len(new) and known != new:  # no layer would change width to remap
        there, here = next((a, b) for a, b in zip(known, new, strict=True) if a != b)
        raise UserError(
            f"{where}: its {what} has {len(new)} entries, as this run's, but they differ by "
            f"name ({there} there, {here} here); give both runs the same env settings"
        )
    kept = [index for index, name in enumerate(known) if name in position]
    targets = np.array([position[known[index]] for index in kept], dtype=np.int64)
    return _InputMap(targets, np.array(kept, dtype=np.int64), len(known), len(new), absent)


def _statistics_columns(source: _Names, names: _Names) -> np.ndarray:
    """Every entry takes its source entry's statistics: in a history, each step's, not only
    the latest (whose columns alone carry the source's weights)."""
    index = {name: column for column, name in enumerate(source.all)}
    return np.array([_source_index(index, name) for name in names.all], dtype=np.int64)


_LATENT = "<latent {}>"  # the teacher body's latent inputs: names no observation entry has


def _teacher_inputs(
    where: str,
    there: ExperimentConfig,
    here: ExperimentConfig,
    other: BaseAlgorithm,
    model: BaseAlgorithm,
) -> tuple[dict[str, _InputMap], np.ndarray]:
    """An adaptation teacher's first layers by parameter name, each with how its input
    ``[o, z]`` takes the source's columns (see the module docstring); and the normalization
    statistics' columns as :func:`_input_maps` returns them."""
    assert here.adaptation is not None
    source, names = _observation_names(where, there), _observation_names(where, here)
    source, names = _input_names(there, here, model, source, names)  # a body on a window
    read = deployable_size(other)
    if read is None and source.privileged:
        raise UserError(
            f"{where}: its actor reads all {len(source.all)} entries of a privileged "
            "observation; a teacher's body reads the privileged ones only through its latent: "
            "start from a run without env.kwargs.privileged, or an asymmetric one"
        )
    actor_reads = source.all[: read or None]
    body = (*names.measured, *(_LATENT.format(i) for i in range(here.adaptation.latent_size)))
    actor = _input_map(where, actor_reads, body, "policy body's observation")
    # The critic read everything (a plain source's: what its actor did); an asymmetric one's
    # privileged entries reach the teacher's critic through z only, so their columns go.
    kept = [name for name in source.all if name in body]
    critic = _InputMap(
        np.array([body.index(name) for name in kept], dtype=np.int64),
        np.array([source.all.index(name) for name in kept], dtype=np.int64),
        len(source.all),
        len(body),
    )
    layers = {_first_layer(model, "policy"): actor, _first_layer(model, "value"): critic}
    return layers, _statistics_columns(source, names)


def _first_layer(model: BaseAlgorithm, network: str) -> str:
    """The weight that reads an on-policy model's features in its ``policy`` or ``value``
    network (the action or value head when the network has no hidden layer)."""
    prefix = f"mlp_extractor.{network}_net."
    names = [name for name in model.policy.state_dict() if name.startswith(prefix)]
    head = "action_net" if network == "policy" else "value_net"
    return names[0] if names else f"{head}.weight"


def _teacher_tensor(
    where: str,
    name: str,
    found: torch.Tensor | None,
    tensor: torch.Tensor,
    layers: dict[str, _InputMap],
) -> torch.Tensor:
    """The teacher's ``tensor`` from the source's ``found``: its encoder's fresh, its first
    layers widened by ``layers``, every other one the source's."""
    if found is None and name.split(".")[0].endswith("features_extractor"):
        return tensor  # the privileged encoder: the source has none
    if name in layers and found is not None and found.ndim == 2:
        map_ = layers[name]
        if found.shape == (tensor.shape[0], map_.source_size):
            return _widened(found, tensor, map_)
    return _matching(where, name, found, tensor, ())


_PAST = "@t-"  # marks an older step's entry in a history's names: "joint_pos@t-2"


def _history_names(names: _Names, steps: int, actions: int) -> _Names:
    """A history run's input by name (envs/wrappers.py's ``History`` layout): the last
    ``steps`` observations, oldest first, the latest with the env's own names, then the
    ``steps`` actions before it, then the latest privileged entries."""
    observations = [
        name if lag == 0 else f"{name}{_PAST}{lag}"
        for lag in range(steps - 1, -1, -1)
        for name in names.measured
    ]
    past_actions = [  # names no observation entry has: they take no statistics
        f"<action {index}>{_PAST}{lag}" for lag in range(steps, 0, -1) for index in range(actions)
    ]
    return _Names((*observations, *past_actions), names.privileged)


def _input_names(
    there: ExperimentConfig,
    here: ExperimentConfig,
    model: BaseAlgorithm,
    source: _Names,
    names: _Names,
) -> tuple[_Names, _Names]:
    """The source's and the new model's input names: each env's observation names, or with
    ``env.history_steps`` the History layout's (a history source has the new run's steps:
    _check_same_inputs)."""
    steps = here.env.history_steps
    if not steps:
        return source, names
    actions = int(model.action_space.shape[0])
    if there.env.history_steps:
        source = _history_names(source, steps, actions)
    return source, _history_names(names, steps, actions)


def _source_index(index: dict[str, int], name: str) -> int:
    """The source's entry whose statistics an entry takes, by its name or, in a history the
    source lacks, the name of the step's entry (-1: none)."""
    if name in index:
        return index[name]
    return index.get(name.split(_PAST)[0], -1)


def _observation_names(where: str, cfg: ExperimentConfig) -> _Names:
    """The names of a config's observation entries (its env made once to read them)."""
    try:
        env = gym.make(cfg.env.id, randomization=cfg.randomization, **cfg.env.kwargs).unwrapped
    except UserError as error:
        raise UserError(f"{where}: {error}") from None
    try:
        return _Names(tuple(env.observation_names), tuple(getattr(env, "privileged_names", ())))
    finally:
        env.close()


def _check_spaces(
    where: str, other: BaseAlgorithm, model: BaseAlgorithm, *, extended: bool
) -> None:
    """The same spaces, but for an observation the new model ``extended`` (see _input_maps)."""
    for kind in ("observation_space", "action_space"):
        there, here = getattr(other, kind), getattr(model, kind)
        if extended and kind == "observation_space":
            continue
        if there.shape != here.shape or type(there) is not type(here):
            raise UserError(
                f"{where}: its {kind.replace('_', ' ')} is {_describe(there)}, "
                f"this env's {_describe(here)}"
            )
    there, here = other.action_space, model.action_space
    if isinstance(there, gym.spaces.Box) and not (
        np.array_equal(there.low, here.low) and np.array_equal(there.high, here.high)
    ):  # the same means would reach the joints through other bounds
        raise UserError(
            f"{where}: its actions are bounded by [{there.low.min():g}, {there.high.max():g}], "
            f"this env's by [{here.low.min():g}, {here.high.max():g}]; give both runs the same "
            "action bounds (the A1's env.kwargs.action_clip)"
        )


def _matching(
    where: str,
    name: str,
    found: torch.Tensor | None,
    tensor: torch.Tensor,
    inputs: tuple[_InputMap, ...],
) -> torch.Tensor:
    """The source's ``found`` for this model's ``tensor``; a layer that reads the extended
    observation (then, for SAC's critics, the action) gets its columns through ``inputs``."""
    if found is not None and found.shape == tensor.shape:
        return found
    readers = [map_ for map_ in inputs if found is not None and _reads(found, tensor, map_)]
    if found is not None and readers:
        return _widened(found, tensor, readers[0])
    shape = "missing" if found is None else tuple(found.shape)
    raise UserError(
        f"{where}: another network ({name}: {shape} there, {tuple(tensor.shape)} here); "
        "give both runs the same policy_kwargs"
    )


def _widened(found: torch.Tensor, tensor: torch.Tensor, inputs: _InputMap) -> torch.Tensor:
    """``found``'s columns where ``inputs`` puts them (trailing inputs, SAC's action, after
    them), zero weights for the new entries."""
    found = found.to(tensor.device, tensor.dtype)  # the model may be on a GPU already
    widened = torch.zeros_like(tensor)
    widened[:, torch.as_tensor(inputs.targets)] = found[:, torch.as_tensor(inputs.sources)]
    widened[:, inputs.size :] = found[:, inputs.source_size :]
    return widened


def _reads(found: torch.Tensor, tensor: torch.Tensor, inputs: _InputMap) -> bool:
    """A weight matrix over the observation (and the same trailing inputs, if any)."""
    return (
        found.ndim == tensor.ndim == 2
        and found.shape[0] == tensor.shape[0]
        and found.shape[1] >= inputs.source_size
        and tensor.shape[1] - inputs.size == found.shape[1] - inputs.source_size
    )


def _describe(space: gym.Space) -> str:
    """A space in one line (a Box's repr lists its bounds, over several lines)."""
    return f"{type(space).__name__} of shape {space.shape}"


def _check_same_setup(
    where: str, there: ExperimentConfig, here: ExperimentConfig, algorithm: Any
) -> None:
    """The source must be a plain run of the same robot, algorithm, network and inputs."""
    if algorithm != here.algorithm.name:
        raise UserError(f"{where}: a {algorithm} run; this config trains {here.algorithm.name}")
    if there.adaptation is not None:
        raise UserError(
            f"{where}: an adaptation run; start from a run without an adaptation section"
        )
    if there.env.id != here.env.id:
        raise UserError(f"{where}: a run of {there.env.id}; this config trains {here.env.id}")
    if there.normalize.observations != here.normalize.observations:
        raise UserError(
            f"{where}: normalize.observations is {there.normalize.observations} there "
            f"and {here.normalize.observations} here; the policy's inputs would change"
        )
    _check_same_inputs(where, there, here)
    network = (_network(there), _network(here))
    if network[0] != network[1]:
        raise UserError(
            f"{where}: policy_kwargs {network[0]} there, {network[1]} here; "
            "the network must be the same"
        )


def _check_same_inputs(where: str, there: ExperimentConfig, here: ExperimentConfig) -> None:
    """A history source starts only a run with the same history, an asymmetric one only an
    asymmetric run (_input_maps extends a source's observation where it can)."""
    steps = (there.env.history_steps, here.env.history_steps)
    if steps[0] and steps[0] != steps[1]:
        raise UserError(
            f"{where}: env.history_steps is {steps[0]} there, {steps[1]} here; a history policy "
            "starts only a run with the same history"
        )
    split = (there.algorithm.asymmetric, here.algorithm.asymmetric)
    if split[0] and not split[1] and here.adaptation is None:  # a teacher takes its actor
        raise UserError(
            f"{where}: an asymmetric run (algorithm.asymmetric: true), this config's is not; "
            "start from a plain run, or train this one asymmetric too"
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
