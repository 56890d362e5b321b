"""Targets: fixed shifted dynamics standing in for the real robot, read from YAML.

A target file::

    name: heavy
    env_id: sim2real/CartPole-v0
    description: pole 3x heavier
    terms:                      # randomization terms with fixed values, relative to nominal
      - {parameter: link_mass, selector: pole, operation: scale, value: 3.0}
    actuator:                   # optional: a non-ideal motor (sim2real.envs.motors)
      dc_motor: {saturation_torque: 60, no_load_speed: 12, time_constant_s: 0.03,
                 coulomb_friction: 3}

Every term must be fixed (``value:``): a target is one world, not a distribution. Values are
always computed from the env's nominal model, so applying a target twice gives the same world.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from sim2real.errors import UserError, short_repr
from sim2real.evaluation.conditions import DR, NOMINAL
from sim2real.randomization import (
    BoundSpec,
    RandomizationSpec,
    SpecError,
    bind,
    parse_spec,
    sample,
    to_named,
)
from sim2real.randomization.dynamics import NamedDynamics
from sim2real.resources import read_yaml, shipped_dir

TARGET_KEYS = ("name", "env_id", "description", "terms", "actuator")
# Condition names the evaluation uses next to target names (learning curves, summaries).
RESERVED_NAMES = (NOMINAL, DR)
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class Target:
    name: str
    env_id: str
    description: str
    spec: RandomizationSpec
    path: Path  # absolute
    actuator: Mapping[str, Any] | None = None  # checked `actuator:` mapping (envs.motors)


def same_target(one: Target, other: Target) -> bool:
    """One file, or a copy of it (an exported policy carries copies of its targets)."""
    if one.path == other.path:
        return True
    return (one.env_id, one.description, one.spec.terms, one.spec.events, one.actuator) == (
        other.env_id,
        other.description,
        other.spec.terms,
        other.spec.events,
        other.actuator,
    )


def env_prefix(env_id: str) -> str:
    """``sim2real/CartPole-v0`` -> ``cartpole``: the file-name prefix of an env's targets."""
    return env_id.split("/")[-1].split("-v")[0].lower()


def load_target(path: str | Path) -> Target:
    """Read and check a target file (structure only; binding needs the env)."""
    path = Path(path).resolve()
    if not path.is_file():
        raise UserError(f"{path}: target file does not exist")
    data = read_yaml(path)
    if not isinstance(data, Mapping):
        raise UserError(f"{path}: a target must be a mapping with keys {', '.join(TARGET_KEYS)}")
    _refuse_other_kinds(path, data)
    unknown = sorted(set(data) - set(TARGET_KEYS))
    if unknown:
        raise UserError(
            f"{path}: field {unknown[0]!r} = {short_repr(data[unknown[0]])} is not a known field; "
            f"valid: {', '.join(TARGET_KEYS)}"
        )
    for key in ("name", "env_id", "terms"):
        if key not in data:
            raise UserError(f"{path}: field {key!r} is required")
    return Target(
        name=_check_name(path, data["name"]),
        env_id=_check_env_id(path, data["env_id"]),
        description=_check_description(path, data.get("description", "")),
        spec=_check_terms(path, data["terms"], may_be_empty="actuator" in data),
        path=path,
        actuator=_check_actuator(path, data["actuator"]) if "actuator" in data else None,
    )


def _refuse_other_kinds(path: Path, data: Mapping[str, Any]) -> None:
    """A randomization spec or an experiment config given as a target: say which it is."""
    if {"algorithm", "total_timesteps"} & set(data):
        raise UserError(
            f"{path}: is an experiment config, not a target file (name, env_id, terms with "
            "fixed values); give a target such as cartpole_heavy.yaml"
        )
    if "terms" in data and not {"name", "env_id"} & set(data):
        raise UserError(
            f"{path}: is a randomization spec, not a target file: a target also has 'name' and "
            "'env_id', and a fixed 'value:' per term; give a target such as cartpole_heavy.yaml"
        )


def bind_target(env: gym.Env, target: Target) -> BoundSpec:
    """Bind a target's terms to an env; exact values only (no latency rounding)."""
    unwrapped = env.unwrapped
    env_id = getattr(unwrapped.spec, "id", None)
    if env_id is not None and env_id != target.env_id:
        raise UserError(
            f"{target.path}: field 'env_id' = {target.env_id!r} does not match the env {env_id!r}"
        )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bound = bind(
            target.spec,
            unwrapped.layout,
            unwrapped.nominal,
            unwrapped.control_dt,
            unwrapped.physics_dt,
        )
    if caught:
        # A rounded latency would silently make the target a different world than it says.
        raise SpecError(f"{caught[0].message}; a target must state the exact value")
    if target.actuator is not None:
        _actuator_for(env, target)  # per-joint values must fit this robot
    return bound


def target_dynamics(env: gym.Env, target: Target) -> NamedDynamics:
    """The target's full named dynamics for this env, computed from its nominal model."""
    unwrapped = env.unwrapped
    bound = bind_target(env, target)
    # Every term is fixed, so sampling never draws from the generator.
    values = sample(bound.terms, unwrapped.nominal, np.random.default_rng(0))
    return to_named(values, unwrapped.layout)


def apply_target(env: gym.Env, target: Target) -> None:
    """Fix the env's dynamics to the target's (make the env without randomization to keep them),
    and its actuator when the target declares one."""
    env.unwrapped.set_dynamics(target_dynamics(env, target))
    if target.actuator is not None:
        try:
            env.unwrapped.set_actuator(target.actuator, str(target.path))
        except ValueError as error:
            raise UserError(str(error)) from None


def _actuator_for(env: gym.Env, target: Target) -> Any:
    """The target's actuator for this env (built, not installed: a check)."""
    from sim2real.envs.motors import build_actuator

    unwrapped = env.unwrapped
    try:
        return build_actuator(
            target.actuator,
            unwrapped.ideal_actuator,
            unwrapped.physics_dt,
            str(target.path),
            unwrapped.physics_steps_per_action,
        )
    except ValueError as error:
        raise UserError(str(error)) from None


def shipped_targets(env_id: str) -> tuple[Target, ...]:
    """Targets shipped for an env: ``configs/targets/<prefix>_*.yaml``, sorted by file name."""
    paths = sorted((shipped_dir() / "targets").glob(f"{env_prefix(env_id)}_*.yaml"))
    targets = tuple(load_target(path) for path in paths)
    for target in targets:
        if target.env_id != env_id:
            raise UserError(
                f"{target.path}: field 'env_id' = {target.env_id!r}; files named "
                f"{env_prefix(env_id)}_*.yaml must target {env_id!r}"
            )
    return targets


def shipped_targets_named(
    env_id: str, names: Sequence[str] | None, option: str
) -> tuple[Target, ...]:
    """The shipped targets of ``env_id`` called ``names`` (all of them for None or none), in
    file order; a name that is none of them is a one-line error naming ``option``."""
    shipped = shipped_targets(env_id)
    known = [target.name for target in shipped]
    unknown = [name for name in names or () if name not in known]
    if unknown:
        raise UserError(
            f"{option}: {', '.join(unknown)}: no shipped target of {env_id}; "
            f"valid: {', '.join(known)}"
        )
    return tuple(target for target in shipped if not names or target.name in names)


# -- checks --------------------------------------------------------------------------


def _check_name(path: Path, name: Any) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise UserError(
            f"{path}: field 'name' = {name!r}; must be letters, digits, '_', '-' or '.'"
        )
    if name in RESERVED_NAMES:
        raise UserError(
            f"{path}: field 'name' = {name!r} is reserved; use a name other than "
            f"{', '.join(RESERVED_NAMES)}"
        )
    return name


def _check_env_id(path: Path, env_id: Any) -> str:
    from sim2real.envs import env_ids

    if env_id not in env_ids():
        raise UserError(f"{path}: field 'env_id' = {env_id!r}; valid: {', '.join(env_ids())}")
    return env_id


def _check_description(path: Path, description: Any) -> str:
    if not isinstance(description, str):
        raise UserError(f"{path}: field 'description' = {description!r}; must be a string")
    return description


def _check_actuator(path: Path, actuator: Any) -> dict[str, Any]:
    from sim2real.envs.motors import check_actuator_spec

    try:
        return check_actuator_spec(actuator, str(path), base_dir=path.parent)
    except ValueError as error:
        raise UserError(str(error)) from None


def _check_terms(path: Path, terms: Any, may_be_empty: bool) -> RandomizationSpec:
    """The fixed terms; an empty list only where the target changes the actuator instead."""
    if not isinstance(terms, list) or not (terms or may_be_empty):
        raise UserError(f"{path}: field 'terms' = {terms!r}; must be a non-empty list of terms")
    spec = parse_spec(terms, source=str(path))
    if spec.events:
        raise UserError(
            f"{path}: field 'terms' has event {spec.events[0].event!r}; a target is a fixed "
            f"world: put pushes in the training or evaluation randomization instead"
        )
    for index, term in enumerate(spec.terms):
        if not term.distribution.is_constant:
            raise UserError(
                f"{path}: field 'terms[{index}]' ({term.parameter}) is not fixed; "
                f"a target term needs 'value: <number>', not a range or distribution"
            )
        if term.when == "interval":
            raise UserError(
                f"{path}: field 'terms[{index}].when' = 'interval'; a target is fixed: "
                f"use reset (the default) or startup"
            )
    return spec
