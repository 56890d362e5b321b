"""One YAML loader and one lookup of shipped files, for configs, specs and targets alike.

Every YAML file the project reads goes through :func:`read_yaml`, so a value means the same
thing in a config, a randomization spec and a target (``1e-3`` is a float everywhere, which
plain YAML 1.1 loaders read as a string). Every file a user names goes through
:func:`resolve_file`: as given, next to the file that names it, or among the shipped ones.
"""

from __future__ import annotations

import importlib.resources
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import yaml

from sim2real.errors import UserError

FileKind = Literal["experiment", "randomization", "target", "study"]
# Where each kind of shipped file lives under ``configs/``.
SHIPPED_SUBDIRS: dict[str, str] = {
    "experiment": "",
    "randomization": "randomization",
    "target": "targets",
    "study": "studies",
}


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads ``1e-3`` as a float (YAML 1.1 wants ``1.0e-3``)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def _mapping_without_duplicates(loader: _Loader, node: yaml.MappingNode) -> dict[Any, Any]:
    """A YAML mapping; a key given twice is an error (YAML loaders keep the last silently)."""
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if isinstance(key, list | dict):
            raise yaml.constructor.ConstructorError(
                None, None, f"unhashable key {key!r}", key_node.start_mark
            )
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=True)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates)


def read_yaml(path: str | Path) -> Any:
    """Parse a YAML file (safe loader; ``1e-3`` is a float); UserError if unreadable."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise UserError(f"{path}: cannot read the file ({error.strerror})") from None
    except UnicodeDecodeError as error:
        raise UserError(
            f"{path}: not UTF-8 text (byte {error.object[error.start]:#04x} at offset "
            f"{error.start}); save it as UTF-8"
        ) from None
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506  (a SafeLoader subclass)
    except yaml.YAMLError as error:
        raise UserError(f"{path}: not valid YAML ({_one_line(error)})") from None


def parse_yaml_value(text: str) -> Any:
    """A scalar or flow value written on a command line, typed the way YAML types it.

    Raises ``yaml.YAMLError``; callers name the option in their one-line message
    (:func:`yaml_problem` gives the problem on one line).
    """
    return yaml.load(text, Loader=_Loader)  # noqa: S506


def yaml_problem(error: yaml.YAMLError) -> str:
    """A YAML error on one line, without the excerpt of the document YAML adds."""
    return _one_line(error)


def _one_line(error: yaml.YAMLError) -> str:
    problem = getattr(error, "problem", None)
    mark = getattr(error, "problem_mark", None)
    if problem and mark is not None:
        return f"{problem} at line {mark.line + 1}, column {mark.column + 1}"
    return " ".join(str(error).split())


def shipped_dir() -> Path:
    """The directory of the configs shipped with the package (``configs/`` in the repo)."""
    return Path(str(importlib.resources.files("sim2real.configs")))


def shipped_names(kind: FileKind) -> list[str]:
    """File names of the shipped files of one kind, sorted."""
    return sorted(p.name for p in (shipped_dir() / SHIPPED_SUBDIRS[kind]).glob("*.yaml"))


def find_file(
    name_or_path: str | Path, kind: FileKind, base_dir: Path | None = None
) -> Path | None:
    """The file a user means: as given, next to ``base_dir``, or shipped (``.yaml`` optional)."""
    path = Path(name_or_path)
    if path.is_absolute():
        places = [path]
    else:
        shipped = shipped_dir()
        places = [base_dir / path] if base_dir is not None else []
        places += [path, shipped / SHIPPED_SUBDIRS[kind] / path, shipped / path]
        if path.parts[:1] == ("configs",):  # the repository-root form the README shows
            places.append(shipped.joinpath(*path.parts[1:]))
    places += [p.with_name(p.name + ".yaml") for p in places if p.name and not p.suffix]
    return next((p for p in places if _probe(p.is_file)), None)


def not_found_message(name: str | Path, kind: FileKind) -> str:
    """One line saying where a file was looked for and which shipped ones exist."""
    return (
        f"no {kind} file {str(name)!r} next to the config, in the current directory or "
        f"shipped; shipped {kind} files: {', '.join(shipped_names(kind)) or 'none'}"
    )


def resolve_file(name_or_path: str | Path, kind: FileKind, base_dir: Path | None = None) -> Path:
    """:func:`find_file`, or a :class:`UserError` listing the shipped files of that kind."""
    found = find_file(name_or_path, kind, base_dir)
    if found is None:
        if _probe(Path(name_or_path).is_dir):
            raise UserError(f"{name_or_path}: is a directory; expected a YAML {kind} file")
        raise UserError(not_found_message(name_or_path, kind))
    return found


def _probe(check: Callable[[], bool]) -> bool:
    """A path test that is False, not an error, where the OS refuses the name itself (too
    long, a parent that is a file or unreadable): no file is there for the user either."""
    try:
        return check()
    except (OSError, ValueError):
        return False
