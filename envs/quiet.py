"""Silence the banner PyBullet's C code prints (``pybullet build time``, ``argv[0]=``).

The C code writes straight to file descriptors 1 and 2, so they are pointed at /dev/null
while PyBullet imports or connects; Python exceptions still propagate normally.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def quiet_c_stdout() -> Iterator[None]:
    streams = [s for s in (sys.stdout, sys.stderr) if _has_fd(s)]
    for stream in streams:
        stream.flush()
    saved = [(stream.fileno(), os.dup(stream.fileno())) for stream in streams]
    with open(os.devnull, "wb") as devnull:
        for fd, _ in saved:
            os.dup2(devnull.fileno(), fd)
        try:
            yield
        finally:
            _flush_c_stdio()  # C stdio may buffer the banner; flush it into /dev/null
            for fd, copy in saved:
                os.dup2(copy, fd)
                os.close(copy)


def _has_fd(stream: object) -> bool:
    try:
        stream.fileno()  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):  # pytest capture or a non-file stream
        return False
    return True


def _flush_c_stdio() -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).fflush(None)
