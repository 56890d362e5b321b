"""Silence the banner PyBullet's C code prints on stdout (``argv[0]=``, build time).

Tables printed by the CLI go to stdout, so the C-level file descriptor is redirected
while PyBullet connects or imports; Python-level output is unaffected.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def quiet_c_stdout() -> Iterator[None]:
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # pytest capture or a non-file stdout
        yield
        return
    sys.stdout.flush()
    saved = os.dup(fd)
    with open(os.devnull, "wb") as devnull:
        os.dup2(devnull.fileno(), fd)
        try:
            yield
        finally:
            _flush_c_stdio()  # C stdio buffers the banner; flush it into /dev/null
            os.dup2(saved, fd)
            os.close(saved)


def _flush_c_stdio() -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).fflush(None)
