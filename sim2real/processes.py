"""Child processes that end with their parent, and SIGTERM as a clean stop.

``sim2real demo`` runs its trainings and transfers in spawned children
(:func:`run_in_processes`; PyBullet and torch do not survive ``fork`` well). Each child

- runs in a process group of its own, so Ctrl-C or a SIGTERM to the demo's group reaches only
  the parent, which sends each running child exactly one SIGTERM: a training stops at its next
  step and saves a checkpoint, as ``sim2real train`` does (a second signal would abort it
  without one); a child still running ``grace_s`` later is killed with its process group;
- gets SIGTERM from the kernel when its parent dies, even by SIGKILL (:func:`die_with_parent`,
  Linux), and then exits instead of waiting for work.

Rollout workers of a process pool (:mod:`sim2real.evaluation.rollouts`) use
:func:`die_with_parent` too. :func:`sigterm_raises` makes SIGTERM stop the parent the way
Ctrl-C does, so the same cleanup runs for both.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import pickle
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any

from sim2real.errors import RunError, UserError, describe

__all__ = ["GRACE_S", "Terminated", "die_with_parent", "run_in_processes", "sigterm_raises"]

# How long a child may take to stop after its SIGTERM (a training's last step and checkpoint).
GRACE_S = 20.0
_PR_SET_PDEATHSIG = 1  # linux/prctl.h
_RELAY = signal.SIGUSR1  # what the kernel sends on the parent's death (see die_with_parent)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C's KeyboardInterrupt so that the same cleanup runs."""

    signum = signal.SIGTERM


@contextmanager
def sigterm_raises() -> Iterator[None]:
    """While the block runs (in the main thread), SIGTERM raises :class:`Terminated`."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum: int, frame: FrameType | None) -> None:
        raise Terminated

    previous = signal.signal(signal.SIGTERM, handle)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def die_with_parent(parent_pid: int, signum: int = signal.SIGTERM) -> None:
    """Have this process get ``signum`` once when its parent dies (Linux only).

    The kernel signals again each time another thread of the dying parent exits, and a second
    SIGTERM aborts a training without its checkpoint; so any signal but SIGKILL is relayed once
    (the kernel sends SIGUSR1). Exits at once if the parent (``parent_pid``) is already gone.
    """
    notify = int(signum)
    if signum != signal.SIGKILL:
        signal.signal(_RELAY, _relay_once(signum))
        notify = _RELAY
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, notify, 0, 0, 0)
    if os.getppid() != parent_pid:  # died before the request above
        os._exit(128 + int(signum))


def _relay_once(signum: int) -> Callable[[int, FrameType | None], None]:
    sent = False

    def relay(received: int, frame: FrameType | None) -> None:
        nonlocal sent
        if not sent:
            sent = True
            os.kill(os.getpid(), signum)

    return relay


def run_in_processes(
    function: Callable[..., Any],
    calls: Sequence[tuple[Any, ...]],
    workers: int,
    grace_s: float = GRACE_S,
) -> list[Any]:
    """``function(*call)`` for each call in a fresh spawned child, ``workers`` at a time.

    Returns the results in call order. A child's exception is raised here; that, or anything
    else that ends the wait (Ctrl-C, :class:`Terminated`), stops the children still running
    (see the module doc), and calls not started never start. ``function`` and its arguments
    must be picklable.
    """
    context = multiprocessing.get_context("spawn")
    results: list[Any] = [None] * len(calls)
    waiting = list(enumerate(calls))
    running: dict[Connection, tuple[int, BaseProcess]] = {}
    try:
        while waiting or running:
            while waiting and len(running) < max(1, workers):
                index, call = waiting.pop(0)
                reader, writer = context.Pipe(duplex=False)
                process = context.Process(target=_child, args=(writer, os.getpid(), function, call))
                running[reader] = (index, process)  # before start: a signal may come any time
                process.start()
                writer.close()
            for reader in wait(list(running)):
                index, process = running.pop(reader)
                results[index] = _outcome(reader, process)
    finally:
        stop_processes([process for _, process in running.values()], grace_s)
    return results


def stop_processes(processes: Sequence[BaseProcess], grace_s: float = GRACE_S) -> None:
    """One SIGTERM to each started process; after ``grace_s`` (or at a second Ctrl-C), SIGKILL
    to the process groups of those still running. Returns once all have ended."""
    # Not started, or already ended (its pid may belong to another process by now): skip.
    started = [process for process in processes if process.pid is not None]
    started = [process for process in started if process.exitcode is None]
    for process in started:
        _signal(process.pid, signal.SIGTERM)
    try:
        deadline = time.monotonic() + grace_s
        for process in started:
            process.join(max(0.0, deadline - time.monotonic()))
    finally:
        for process in started:
            if process.exitcode is None:
                _signal(process.pid, signal.SIGKILL, group=True)
                _signal(process.pid, signal.SIGKILL)
        for process in started:
            process.join()


def _signal(pid: int, signum: int, group: bool = False) -> None:
    # A process already gone, or a group its child did not create yet, is nothing to signal.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if group:
            os.killpg(pid, signum)  # a child leads its own group (see _child)
        else:
            os.kill(pid, signum)


def _outcome(reader: Connection, process: BaseProcess) -> Any:
    """The child's result, or its exception raised here."""
    try:
        kind, value = reader.recv()
    except EOFError:
        process.join()
        raise RunError(
            f"a worker process died (exit code {process.exitcode}) before it reported a result"
        ) from None
    finally:
        reader.close()
    process.join()
    if kind == "error":
        raise value
    return value


def _child(
    writer: Connection, parent_pid: int, function: Callable[..., Any], call: tuple[Any, ...]
) -> None:
    os.setpgid(0, 0)
    die_with_parent(parent_pid)
    try:
        outcome: tuple[str, Any] = ("ok", function(*call))
    except BaseException as error:
        if not isinstance(error, (UserError, RunError, KeyboardInterrupt)):
            traceback.print_exc()  # a bug: its traceback belongs to this process's stderr
        outcome = ("error", _picklable(error))
    with contextlib.suppress(OSError):  # the parent is gone: nobody to tell
        writer.send(outcome)


def _picklable(error: BaseException) -> BaseException:
    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:
        return RunError(describe(error))
