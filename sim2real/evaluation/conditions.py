"""What an evaluation runs on: the conditions and their envs; for ``evaluate``, the runs
(grouped into methods), the targets and the oracles.

A :class:`Condition` is the one description of where a policy is evaluated (nominal
dynamics, the source DR distribution, a target, a sweep point) and :func:`make_env` the one
way to build its env, for the evaluations during training and transfer
(:mod:`sim2real.evaluation.training_eval`) and for ``evaluate`` and ``sweep`` rollouts alike.

Everything ``evaluate`` reads is checked before any rollout starts, so bad input fails fast
with one line: runs for different envs, a target for another env or with a duplicate name,
an oracle for an unknown target, a policy whose spaces do not fit the env.

:mod:`sim2real.targets` (which reserves the names ``NOMINAL`` and ``DR``) and
:mod:`sim2real.evaluation.rollouts` (which builds its envs with :func:`make_env`) import this
module, so it imports them only inside the functions that need them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gymnasium as gym

from sim2real.errors import UserError, short_repr
from sim2real.policies.predictor import check_compatible
from sim2real.randomization import RandomizationSpec
from sim2real.resources import find_file

if TYPE_CHECKING:
    from sim2real.config import ExperimentConfig
    from sim2real.targets import Target

__all__ = [
    "DR",
    "NOMINAL",
    "NOMINAL_CONDITION",
    "Condition",
    "Probes",
    "RunInfo",
    "check_policies",
    "condition_info",
    "default_targets",
    "dynamics_changes",
    "evaluation_conditions",
    "make_env",
    "method_label",
    "method_names",
    "open_runs",
    "oracle_runs",
    "target_condition",
    "target_conditions",
    "transfer_conditions",
    "unique_targets",
]

# The names of the source conditions; no target may take them (sim2real.targets).
NOMINAL, DR = "nominal", "dr"


@dataclass(frozen=True)
class Condition:
    """Where a policy is evaluated.

    ``randomization``: a spec sampled at every reset (the source DR distribution), or None.
    ``target``: a target, fixed relative to each env's own nominal model when the env is made.
    ``dynamics``: exact named values fixed with ``set_dynamics`` (a target's, a sweep point).
    With a randomization and fixed dynamics, resets randomize around the fixed values.
    None of them: nominal dynamics. ``actuator``: a target's non-ideal actuator (an
    ``actuator:`` mapping) going with its ``dynamics``; a ``target`` brings its own.
    """

    name: str
    description: str = ""
    randomization: RandomizationSpec | None = None
    target: Target | None = None
    dynamics: Mapping[str, Any] | None = None
    actuator: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.target is not None and self.dynamics is not None:
            raise ValueError(f"condition {self.name!r}: give a target or dynamics, not both")


NOMINAL_CONDITION = Condition(NOMINAL, "nominal source dynamics")


def target_condition(target: Target) -> Condition:
    return Condition(target.name, target.description, target=target)


def transfer_conditions(target: Target) -> list[Condition]:
    """What a transfer run evaluates on: nominal dynamics (what fine-tuning forgets) and its
    target. Its training spec is the target world, so it has no DR condition of its own."""
    return [NOMINAL_CONDITION, target_condition(target)]


def evaluation_conditions(config: ExperimentConfig) -> list[Condition]:
    """What a run evaluates on: nominal, DR (when the config randomizes anything), each target."""
    conditions = [NOMINAL_CONDITION]
    if config.randomization:
        conditions.append(Condition(DR, "source DR distribution", config.randomization))
    # Target names are unique and never "nominal"/"dr" (checked when the config is loaded).
    conditions += [target_condition(target) for target in config.targets]
    return conditions


def make_env(
    env_id: str, condition: Condition, env_kwargs: Mapping[str, Any] | None = None
) -> gym.Env:
    """The env of ``condition``: its randomization bound at construction, dynamics fixed."""
    env = gym.make(env_id, randomization=condition.randomization, **dict(env_kwargs or {}))
    try:
        if condition.target is not None:
            from sim2real.targets import apply_target

            apply_target(env, condition.target)
        if condition.dynamics:
            env.unwrapped.set_dynamics(condition.dynamics)
        if condition.actuator is not None:
            env.unwrapped.set_actuator(condition.actuator, condition.name)
    except BaseException:
        env.close()
        raise
    return env


@dataclass(frozen=True)
class RunInfo:
    """What evaluation needs from a run directory."""

    path: Path
    method: str  # runs sharing it are seeds of one method (see :func:`open_runs`)
    env_id: str
    env_kwargs: Mapping[str, Any]
    randomization: RandomizationSpec
    targets: tuple[Target, ...]


# Config fields that do not change what a run learns: runs that differ only in these are
# seeds of one method. (The spec's ``source`` is where it was read from, not what it holds.)
_NOT_LEARNED = frozenset(
    {"name", "seed", "targets", "evaluation", "checkpoint", "vec_env", "device"}
    | {"randomization.source"}
)
_SHOWN_DIFFERENCES = 3


def method_names(configs: Sequence[ExperimentConfig]) -> list[str]:
    """The method of each run's config: runs of one config name are seeds of one method when
    they learned alike; one that differs (:data:`_NOT_LEARNED` aside) from the first of its
    name is a method of its own, labelled with the fields that differ."""
    firsts: dict[str, dict[str, Any]] = {}
    names = []
    for config in configs:
        fields = _learned_fields(config)
        names.append(method_label(config.name, fields, firsts.setdefault(config.name, fields)))
    return names


def _learned_fields(config: ExperimentConfig) -> dict[str, Any]:
    """The config's fields that shape the policy, flattened to dotted names."""
    from sim2real.config import config_to_dict

    return {
        name: value
        for name, value in _flattened(config_to_dict(config))
        if name not in _NOT_LEARNED and name.partition(".")[0] not in _NOT_LEARNED
    }


def _flattened(data: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in data.items():
        if isinstance(value, Mapping) and value:
            yield from _flattened(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def method_label(name: str, fields: Mapping[str, Any], first: Mapping[str, Any]) -> str:
    """``name``, or ``name [field=value, ...]`` where a run's ``fields`` differ from those of
    the first run of that name (e.g. a config trained with ``--set env.history_steps=10``)."""
    missing = object()
    keys = fields.keys() | first.keys()
    differing = sorted(k for k in keys if fields.get(k, missing) != first.get(k, missing))
    if not differing:
        return name
    shown = [f"{k}={short_repr(fields.get(k))}" for k in differing[:_SHOWN_DIFFERENCES]]
    more = ", ..." if len(differing) > _SHOWN_DIFFERENCES else ""
    return f"{name} [{', '.join(shown)}{more}]"


def open_runs(paths: Sequence[str | Path]) -> list[RunInfo]:
    """Read and check each run or exported policy (:func:`policy_config`); all for one env.
    Their methods are :func:`method_names`."""
    from sim2real.policies.exported import policy_config
    from sim2real.policies.zoo import resolve_source

    if not paths:
        raise UserError("give at least one run directory")
    resolved = [resolve_source(path) for path in paths]
    configs = [policy_config(path) for path in resolved]
    infos = [
        RunInfo(
            path=Path(path).resolve(),
            method=method,
            env_id=config.env.id,
            env_kwargs=dict(config.env.kwargs),
            randomization=config.randomization,
            targets=tuple(config.targets),
        )
        for path, config, method in zip(resolved, configs, method_names(configs), strict=True)
    ]
    env_ids = sorted({info.env_id for info in infos})
    if len(env_ids) > 1:
        listing = ", ".join(f"{i.path.name}: {i.env_id}" for i in infos)
        raise UserError(f"runs are for different envs ({listing}); evaluate one env at a time")
    if len({i.path for i in infos}) != len(infos):
        raise UserError("the same run directory is given twice")
    return infos


class Probes:
    """One nominal env per distinct env kwargs, to bind targets and check policy spaces."""

    def __init__(self, env_id: str):
        self.env_id = env_id
        self._envs: dict[str, gym.Env] = {}

    def get(self, kwargs: Mapping[str, Any]) -> gym.Env:
        key = json.dumps(dict(kwargs), sort_keys=True, default=str)
        if key not in self._envs:
            self._envs[key] = gym.make(self.env_id, **dict(kwargs))
        return self._envs[key]

    def close(self) -> None:
        for env in self._envs.values():
            env.close()


def unique_targets(targets: Sequence[Target]) -> list[Target]:
    from sim2real.targets import same_target

    seen: dict[str, Target] = {}
    for target in targets:
        other = seen.get(target.name)
        if other is not None and not same_target(other, target):
            raise UserError(
                f"{target.path}: field 'name' = {target.name!r} is also the name of "
                f"{other.path}; target names must be unique"
            )
        seen[target.name] = target
    return list(seen.values())


def default_targets(runs: Sequence[RunInfo]) -> list[Target]:
    return unique_targets([t for info in runs for t in info.targets])


def oracle_runs(
    oracles: Mapping[str, str | Path], targets: Sequence[Target], env_id: str
) -> dict[str, RunInfo]:
    found = {}
    for key, path in oracles.items():
        target_name = _oracle_target_name(key, path, targets)
        if target_name in found:
            raise UserError(f"--oracle {key}={path}: target {target_name!r} already has an oracle")
        (info,) = open_runs([path])
        if info.env_id != env_id:
            raise UserError(f"--oracle {key}={path}: oracle run is for {info.env_id}, not {env_id}")
        found[target_name] = info
    return found


def _oracle_target_name(key: str, path: str | Path, targets: Sequence[Target]) -> str:
    """The target an ``--oracle KEY=RUN`` names: its name, its file as ``--targets`` finds
    it, or (for targets read from elsewhere, e.g. an export's copies) a file name that only
    one target's file has."""
    named = [t.name for t in targets if t.name == key]
    if not named:
        found = find_file(key, "target")
        named = [t.name for t in targets if found is not None and found.resolve() == t.path]
    if not named and not Path(key).parent.parts:
        named = [t.name for t in targets if key in (t.path.name, t.path.stem)]
    if len(named) > 1:
        raise UserError(
            f"--oracle {key}={path}: the file name of targets {', '.join(named)}; "
            "name the target instead"
        )
    if not named:
        valid = ", ".join(t.name for t in targets) or "none (pass --targets)"
        raise UserError(f"--oracle {key}={path}: unknown target; valid: {valid} (or their files)")
    return named[0]


def target_conditions(
    probes: Probes, env_kwargs: Mapping[str, Any], targets: Sequence[Target]
) -> dict[str, dict[str, Any]]:
    """Per target: full named dynamics and what differs from nominal (for the report)."""
    from sim2real.targets import target_dynamics

    env = probes.get(env_kwargs)
    nominal = env.unwrapped.get_dynamics()
    conditions = {}
    for target in targets:
        if target.env_id != probes.env_id:
            raise UserError(
                f"{target.path}: field 'env_id' = {target.env_id!r}; the runs are for "
                f"{probes.env_id!r}"
            )
        full = target_dynamics(env, target)
        conditions[target.name] = {
            "full": full,
            "changes": dynamics_changes(nominal, full),
            "target": target,
        }
    return conditions


def dynamics_changes(nominal: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """Named values that differ from nominal; one number when every element got the same."""
    changed: dict[str, Any] = {}
    for parameter, value in values.items():
        if isinstance(value, Mapping):
            diff = {k: v for k, v in value.items() if v != nominal[parameter][k]}
            if len(diff) == len(value) > 1 and len(set(diff.values())) == 1:
                changed[parameter] = next(iter(diff.values()))  # set_dynamics reads it alike
            elif diff:
                changed[parameter] = diff
        elif value != nominal[parameter]:
            changed[parameter] = value
    return changed


def condition_info(
    targets: Sequence[Target], conditions: Mapping[str, Mapping[str, Any]]
) -> dict[str, dict[str, Any]]:
    info: dict[str, dict[str, Any]] = {
        NOMINAL: {"kind": NOMINAL, "description": NOMINAL_CONDITION.description},
        DR: {"kind": DR, "description": "each method's training randomization"},
    }
    for target in targets:
        info[target.name] = {
            "kind": "target",
            "description": target.description,
            "path": str(target.path),
            "dynamics": conditions[target.name]["changes"],
        }
        if target.actuator is not None:
            info[target.name]["actuator"] = dict(target.actuator)
    return info


def check_policies(runs: Sequence[RunInfo], probes: Probes) -> None:
    """Load every run's policy (cached for in-process rollouts) and check its spaces."""
    from sim2real.evaluation.rollouts import get_predictor

    for info in runs:
        env = probes.get(info.env_kwargs)
        check_compatible(get_predictor(info.path), env, str(info.path), probes.env_id)
