"""Starting a ``sim2real`` verb as a shell job, waiting for its first checkpoint, stopping it.

Shared by the e2e tests that interrupt a run and resume it (``train``, ``transfer``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

SIM2REAL = str(Path(sys.executable).with_name("sim2real"))


def start(verb: str, args: list[str], cwd: Path) -> subprocess.Popen:
    """``sim2real VERB`` in its own process group (as a shell job: Ctrl-C reaches the group)."""
    return subprocess.Popen(
        [SIM2REAL, verb, *args, "--no-progress"],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def wait_until(
    process: subprocess.Popen, ready: Callable[[], bool], what: str, timeout: float = 120
) -> None:
    """Block until ``ready()`` (while the process is still running)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        if process.poll() is not None:
            out, err = process.communicate()
            raise AssertionError(f"the run ended before {what}:\n{out}\n{err}")
        time.sleep(0.05)
    process.kill()
    raise AssertionError(f"no {what} in time")


def wait_for_checkpoint(process: subprocess.Popen, run_dir: Path, timeout: float = 120) -> None:
    """Block until the run has a complete checkpoint (and the process is still training)."""

    def has_checkpoint() -> bool:
        folder = run_dir / "checkpoints"
        return folder.is_dir() and any(p.name.startswith("step_") for p in folder.iterdir())

    wait_until(process, has_checkpoint, "a checkpoint", timeout)


def stop(
    process: subprocess.Popen, signum: int, group: bool = False, timeout: float = 120
) -> tuple[int, str, str]:
    """Send ``signum`` to the process (or, like Ctrl-C in a terminal, to its whole group)."""
    if group:
        os.killpg(process.pid, signum)
    else:
        os.kill(process.pid, signum)
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err
