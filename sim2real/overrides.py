"""The ``--set`` overrides that turn one experiment config into another.

A zoo card says how its policy was trained: the shipped config of the run's name plus the
``--set`` items that make the run's config from it (``randomization=null``, a reward weight,
``init_from=...``). This is :func:`sim2real.config.apply_overrides` run backwards, so the card's
command reproduces the run's config rather than the shipped one.

Fields that do not change what is trained (name, seed, evaluation, checkpoints, vec_env,
device) are left out; the seed has its own flag. Randomization specs and targets compare by
content, so a copy of a shipped file (a run started from another checkout) is no change.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sim2real.config import ExperimentConfig, config_to_dict, load_config
from sim2real.errors import UserError
from sim2real.randomization import load_spec
from sim2real.randomization.spec import spec_to_data
from sim2real.resources import parse_yaml_value, shipped_dir, shipped_names
from sim2real.targets import Target, same_target

NOT_REPRODUCED = frozenset({"name", "seed", "evaluation", "checkpoint", "vec_env", "device"})
_BY_CONTENT = frozenset({"randomization", "targets"})


@dataclass(frozen=True)
class Overrides:
    """``sets``: ``key=value`` items, each valid for ``--set``, in field order; ``unexpressed``:
    dotted fields a ``--set`` cannot make (a key the reference has and the config lacks)."""

    sets: tuple[str, ...]
    unexpressed: tuple[str, ...] = ()

    def command_line(self) -> str:
        """The ``--set`` flags, shell-quoted, or '' when there are none."""
        return " ".join(f"--set {shlex.quote(item)}" for item in self.sets)


def overrides_between(reference: ExperimentConfig, config: ExperimentConfig) -> Overrides:
    """What ``--set`` turns ``reference`` into ``config`` (fields in NOT_REPRODUCED aside)."""
    changes: list[tuple[str, Any]] = []
    unexpressed: list[str] = []
    if reference.randomization.terms != config.randomization.terms or (
        reference.randomization.events != config.randomization.events
    ):
        changes.append(("randomization", _spec_value(config)))
    if not _same_targets(reference.targets, config.targets):
        changes.append(("targets", [_portable(target.path) for target in config.targets]))
    skipped = NOT_REPRODUCED | _BY_CONTENT
    old, new = _as_typed(reference), _as_typed(config)
    for key in new:
        if key not in skipped:
            _diff(old.get(key, _MISSING), new[key], key, changes, unexpressed)
    unexpressed += [key for key in old if key not in new and key not in skipped]
    sets = tuple(set_item(key, value) for key, value in changes)
    return Overrides(sets, tuple(unexpressed))


def shipped_overrides(config: ExperimentConfig) -> Overrides | None:
    """The overrides from the shipped config of ``config.name``; None when none ships."""
    file_name = f"{config.name}.yaml"
    if file_name not in shipped_names("experiment"):
        return None
    return overrides_between(load_config(file_name), config)


_MISSING = object()


def _diff(
    old: Any, new: Any, key: str, changes: list[tuple[str, Any]], unexpressed: list[str]
) -> None:
    """Append the smallest ``(dotted key, value)`` changes that make ``old`` into ``new``."""
    if isinstance(new, Mapping) and new and (old is _MISSING or isinstance(old, Mapping)):
        old_map: Mapping[str, Any] = {} if old is _MISSING else old
        for name, value in new.items():
            _diff(old_map.get(name, _MISSING), value, f"{key}.{name}", changes, unexpressed)
        unexpressed += [f"{key}.{name}" for name in old_map if name not in new]
    elif old is _MISSING or old != new:
        changes.append((key, new))


def _as_typed(config: ExperimentConfig) -> dict[str, Any]:
    """The config as a dict, with ``env.kwargs.privileged`` back to the ``true`` a user types
    where it is the config's own spec (what loading made of ``true``)."""
    data = config_to_dict(config)
    kwargs = data.get("env", {}).get("kwargs", {})
    own = {"terms": spec_to_data(config.randomization) if config.randomization else []}
    if kwargs.get("privileged") == own:
        kwargs["privileged"] = True
    return data


def _spec_value(config: ExperimentConfig) -> Any:
    """``null`` for no randomization, the file for a spec read from one, else its terms."""
    spec = config.randomization
    if not spec:
        return None
    source = Path(spec.source)
    if source.is_file():
        try:
            loaded = load_spec(source)
        except UserError:  # changed or replaced since the run read it: inline what it read
            loaded = None
        if loaded is not None and (loaded.terms, loaded.events) == (spec.terms, spec.events):
            return _portable(source)
    return config_to_dict(config)["randomization"]["terms"]


def _same_targets(one: tuple[Target, ...], other: tuple[Target, ...]) -> bool:
    return len(one) == len(other) and all(map(same_target, one, other))


def _portable(path: Path) -> str:
    """A shipped file by the name a config uses for it (``targets/a1_heavy.yaml``)."""
    try:
        return path.resolve().relative_to(shipped_dir().resolve()).as_posix()
    except ValueError:
        return str(path)


def set_item(key: str, value: Any) -> str:
    """The ``key=value`` item that ``--set`` reads back as ``value``."""
    return f"{key}={_yaml_text(value)}"


def _yaml_text(value: Any) -> str:
    """One line of YAML that ``--set`` reads back as ``value`` (a string plainly where it can)."""
    if isinstance(value, str) and "\n" not in value and _reads_back(value, value):
        return value
    text = yaml.safe_dump([value], default_flow_style=True, width=float("inf")).strip()
    return text[1:-1]  # the one-element list's brackets: a scalar dumps with a '...' end


def _reads_back(text: str, value: Any) -> bool:
    try:
        return parse_yaml_value(text) == value
    except yaml.YAMLError:
        return False
