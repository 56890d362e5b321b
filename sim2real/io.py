"""Writing files so that no reader ever sees half of one: the only file writers in sim2real.

A file is written to a temporary sibling and renamed over its destination with
:func:`os.replace` (atomic within one filesystem); a directory (a checkpoint, a policy bundle)
is filled under a temporary name and renamed once complete. A failed write removes its
temporary file or directory and leaves the destination as it was. JSON is strict: numpy
values become Python ones, and NaN and infinities become ``null``, so any JSON reader loads it.
What is written gets the permissions of a plain ``open`` or ``mkdir`` (the umask decides), and
:func:`check_output_dir` lets a command refuse an unwritable output location before it works.

Only the standard library, numpy and :mod:`sim2real.errors` are imported: policy bundles and
normalization statistics are written without torch or SB3.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import os
import secrets
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from sim2real.errors import UserError

__all__ = [
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_text",
    "check_output_dir",
    "check_output_file",
    "jsonable",
    "staged_directory",
    "write_json",
]


def check_output_dir(path: str | Path, option: str, *, new: bool = False) -> Path:
    """Refuse, before any work starts, an output directory that could not be written.

    ``path`` must be a directory or not exist yet (it is created later, parents included);
    with ``new`` it must not exist at all. The deepest existing ancestor must be a directory
    we can create files in (probed with a temporary file that is removed at once).
    ``option`` names the option or field in the one-line :class:`UserError`.
    """
    path = _non_empty(path, option)
    if path.exists() and new:
        raise UserError(f"{option} {path}: already exists; give a new directory or remove it")
    if path.exists() and not path.is_dir():
        raise UserError(f"{option} {path}: exists and is not a directory; give a directory")
    existing = _deepest_existing(path)
    if not existing.is_dir():
        raise UserError(
            f"{option} {path}: {existing} is a file, so no directory can be made inside it; "
            "give a directory path"
        )
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        raise UserError(
            f"{option} {path}: cannot write in {existing} ({error.strerror or error}); "
            "give a writable location"
        ) from None
    return path


def check_output_file(path: str | Path, option: str, example: str, *, overwrite: bool) -> Path:
    """Refuse, before any work starts, an output file that could not or must not be written.

    ``path`` must not be a directory or anything but a regular file (``/dev/null`` would be
    replaced by the rename that writes it); an existing file only with ``overwrite``; its
    folder is created later if missing (see :func:`check_output_dir`). ``example`` is a file
    name the message suggests.
    """
    path = _non_empty(path, option)
    if path.is_dir():
        raise UserError(f"{option} {path}: is a directory; give a file name such as {example}")
    if path.exists() or path.is_symlink():
        if not path.is_file():
            raise UserError(f"{option} {path}: exists and is not a regular file; give a file path")
        if not overwrite:
            raise UserError(
                f"{option} {path}: already exists; give a new file name, or --overwrite to "
                "replace it"
            )
    folder = _deepest_existing(path.parent)
    if not folder.is_dir():
        raise UserError(f"{option} {path}: {folder} is a file, not a folder; give a file path")
    check_output_dir(path.parent, option)
    return path


def _non_empty(path: str | Path, option: str) -> Path:
    """``path`` as a Path; an empty string (which Path reads as ".") is refused."""
    if isinstance(path, str) and not path.strip():
        raise UserError(f"{option} {path!r}: empty; give a path")
    return Path(path)


def _deepest_existing(path: Path) -> Path:
    """``path`` or the nearest of its ancestors that exists."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _create_new(directory: Path, prefix: str, suffix: str = "") -> Path:
    """A new, empty file with a random name in ``directory``, with the permissions ``open``
    gives (0666 less the umask; ``mkstemp`` would give 0600)."""
    while True:
        path = directory / f"{prefix}{secrets.token_hex(4)}{suffix}"
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return path


def _make_new_dir(directory: Path, prefix: str) -> Path:
    """A new, empty directory with a random name, with a plain ``mkdir``'s permissions."""
    while True:
        path = directory / f"{prefix}{secrets.token_hex(4)}"
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary sibling of ``path`` to write; renamed onto ``path`` if the block succeeds.

    For writers that take a file name (e.g. SB3's ``model.save``). The temporary name ends in
    ``.tmp``, so writers that add a missing suffix leave it alone. If the block raises, the
    temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = _create_new(path.parent, f".{path.name}.", ".tmp")
    try:
        yield temporary
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; the bytes reach the disk before the rename."""
    path = Path(path)
    with atomic_path(path) as temporary, open(temporary, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def write_npz(
    path: str | Path, arrays: Mapping[str, np.ndarray], *, compressed: bool = False
) -> Path:
    """Arrays as one .npz, atomically (through a buffer: numpy adds no ".npz" suffix)."""
    buffer = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buffer, **arrays)
    return atomic_write_bytes(path, buffer.getvalue())


def read_npz(path: str | Path, description: str) -> dict[str, np.ndarray]:
    """Every array of a .npz, never unpickling; an unreadable file is one :class:`UserError`
    line, ``"{path}: not {description} (problem)"``."""
    try:
        if not zipfile.is_zipfile(path):  # else numpy reads it as a pickle and says so
            raise ValueError("not a .npz archive")
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as error:
        problem = " ".join(str(error).split()) or type(error).__name__
        raise UserError(f"{path}: not {description} ({problem})") from None


def jsonable(value: Any) -> Any:
    """Plain JSON data: numpy -> Python, dataclasses -> dicts, Paths -> str, NaN/inf -> None.

    Strict JSON has no NaN; ``None`` (null) marks an undefined number (e.g. a normalized gap
    when J_source = 0). Raises ``TypeError`` for anything else that JSON cannot hold.
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable(dataclasses.asdict(value))
    if hasattr(value, "_asdict"):  # NamedTuple
        return jsonable(value._asdict())
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"cannot write {type(value).__name__} to JSON: {value!r}")


def read_json(path: str | Path) -> Any:
    """A JSON file's data; unreadable, not UTF-8 or not JSON is one :class:`UserError` line."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:  # ValueError: bad JSON or not UTF-8
        raise UserError(f"{path}: cannot read JSON ({error})") from None


def read_json_object(path: str | Path, damaged: str) -> dict[str, Any]:
    """A JSON file that must hold an object (fields read with ``.get``); ``damaged`` ends
    the one-line error when it holds something else, e.g. "the export is damaged"."""
    data = read_json(path)
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a JSON object, got {type(data).__name__}; {damaged}")
    return data


def write_json(path: str | Path, data: Any) -> Path:
    """Write ``data`` as strict, indented JSON to ``path`` atomically (see :func:`jsonable`)."""
    return atomic_write_text(path, json.dumps(jsonable(data), indent=2, allow_nan=False) + "\n")


@contextmanager
def staged_directory(
    final: str | Path, staging: str | Path | None = None, *, keep_on_failure: bool = False
) -> Iterator[Path]:
    """An empty directory to fill; renamed to ``final`` (which must not exist) on success.

    ``staging`` names the directory (one left over from an earlier attempt is replaced);
    by default it is a fresh hidden sibling of ``final``. If the block raises, the staging
    directory is removed, or with ``keep_on_failure`` left as a killed process would leave
    it, for an owner that cleans up such leftovers anyway.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    if staging is None:
        staging = _make_new_dir(final.parent, f".{final.name}-")
    else:
        staging = Path(staging)
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
    try:
        yield staging
        os.replace(staging, final)
    except BaseException:
        if not keep_on_failure:
            shutil.rmtree(staging, ignore_errors=True)
        raise
