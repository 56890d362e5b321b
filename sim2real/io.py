"""Writing files so that no reader ever sees half of one: the only file writers in sim2real.

A file is written to a temporary sibling and renamed over its destination with
:func:`os.replace` (atomic within one filesystem); a directory (a checkpoint, a policy bundle)
is filled under a temporary name and renamed once complete. A failed write removes its
temporary file or directory and leaves the destination as it was. JSON is strict: numpy
values become Python ones, and NaN and infinities become ``null``, so any JSON reader loads it.

Only the standard library and numpy are imported: policy bundles and normalization
statistics are written without torch or SB3.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_text",
    "jsonable",
    "staged_directory",
    "write_json",
]


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary sibling of ``path`` to write; renamed onto ``path`` if the block succeeds.

    For writers that take a file name (e.g. SB3's ``model.save``). The temporary name ends in
    ``.tmp``, so writers that add a missing suffix leave it alone. If the block raises, the
    temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    temporary = Path(name)
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
    if staging is None:
        staging = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=final.parent))
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
