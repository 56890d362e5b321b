"""Training envs in subprocesses (``vec_env: subproc``) whose faults end training in one line.

In SB3's :class:`SubprocVecEnv` an exception in a worker's env kills the worker with a
traceback, and the parent then fails with ``EOFError`` or ``BrokenPipeError``. Here an
exception in the env is caught in the worker and sent back in the step's info
(:class:`ReportErrors`), and a worker that died (a crash in PyBullet's C code, the OOM killer)
is found by its exit code; either way :class:`WorkerVecEnv` raises
:class:`sim2real.errors.RunError` naming the env, the worker and its seed.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterable, Mapping, Sequence
from multiprocessing.connection import wait
from typing import Any, TypeVar

import gymnasium as gym
from stable_baselines3.common.vec_env import SubprocVecEnv

from sim2real.errors import RunError, describe

WORKER_ERROR_KEY = "sim2real_worker_error"
# How long a worker whose pipe closed may take to exit before it counts as unresponsive.
_EXIT_WAIT_S = 2.0
_PIPE_ERRORS = (EOFError, OSError)  # OSError: BrokenPipeError, ConnectionResetError
_HINT = "; with vec_env: dummy the env runs in the training process and shows its traceback"

T = TypeVar("T")


def ignore_stop_signals() -> None:
    """In a worker: Ctrl-C and SIGTERM reach the whole process group; only the parent acts on
    them (it stops training gracefully and then closes the workers, which must not die first).
    A worker whose parent is gone ends when its pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


class ReportErrors(gym.Wrapper):
    """In a worker: an exception in ``reset`` or ``step`` ends the episode and is sent to the
    parent as ``info[WORKER_ERROR_KEY]`` (one line) instead of killing the worker."""

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        try:
            return self.env.reset(**kwargs)
        except Exception as error:
            return self.observation_space.sample(), {WORKER_ERROR_KEY: f"reset: {describe(error)}"}

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        try:
            return self.env.step(action)
        except Exception as error:
            info = {WORKER_ERROR_KEY: f"step: {describe(error)}"}
            return self.observation_space.sample(), 0.0, True, False, info


class WorkerVecEnv(SubprocVecEnv):
    """A :class:`SubprocVecEnv` of ``env_id`` envs that raises :class:`RunError` naming the
    worker and its seed when a worker's env raised (see :class:`ReportErrors`) or died."""

    def __init__(self, env_fns: Sequence[Callable[[], gym.Env]], env_id: str):
        self.env_id = env_id
        self.worker_seeds: list[int | None] = [None] * len(env_fns)
        self.processes: list[Any] = []
        self._broken = False  # a pipe failed: the workers' state is unknown
        try:
            super().__init__(list(env_fns))
        except _PIPE_ERRORS:
            message = self._death_message()
            self._kill_workers()
            raise RunError(message) from None

    def reset(self) -> Any:
        for index, seed in enumerate(self._seeds):
            if seed is not None:
                self.worker_seeds[index] = seed
        observations = self._guard(super().reset)
        self._check(self.reset_infos)
        return observations

    def step_async(self, actions: Any) -> None:
        self._guard(super().step_async, actions)

    def step_wait(self) -> Any:
        observations, rewards, dones, infos = self._guard(super().step_wait)
        self._check(infos)
        self._check(self.reset_infos)  # the automatic reset after an episode's end
        return observations, rewards, dones, infos

    def close(self) -> None:
        if self.closed:
            return
        if not self._broken:
            try:
                super().close()
                return
            except _PIPE_ERRORS:
                pass
        # A worker died: the others may be mid-reply, so end them without asking.
        self._kill_workers()
        for remote in self.remotes:
            remote.close()
        self.closed = True

    def _guard(self, action: Callable[..., T], *args: Any) -> T:
        try:
            return action(*args)
        except _PIPE_ERRORS:
            self._broken = True
            raise RunError(self._death_message()) from None

    def _check(self, infos: Iterable[Mapping[str, Any]]) -> None:
        for index, info in enumerate(infos):
            if WORKER_ERROR_KEY in info:
                raise RunError(f"{self._name(index)} failed in {info[WORKER_ERROR_KEY]}{_HINT}")

    def _death_message(self) -> str:
        sentinels = [process.sentinel for process in self.processes]
        if sentinels:
            wait(sentinels, timeout=_EXIT_WAIT_S)  # a closed pipe comes just before the exit
        for index, process in enumerate(self.processes):
            if process.exitcode is not None:
                return f"{self._name(index)} died ({_exit_reason(process.exitcode)}){_HINT}"
        return f"an env worker of {self.env_id} stopped answering{_HINT}"

    def _name(self, index: int) -> str:
        seed = self.worker_seeds[index] if index < len(self.worker_seeds) else None
        seeded = f", seed {seed}" if seed is not None else ""
        return f"env {self.env_id} in worker {index + 1} of {len(self.worker_seeds)}{seeded}"

    def _kill_workers(self) -> None:
        for process in self.processes:
            if process.is_alive():
                process.kill()  # workers ignore SIGTERM (see ignore_stop_signals)
        for process in self.processes:
            process.join(timeout=_EXIT_WAIT_S)


def _exit_reason(code: int) -> str:
    if code >= 0:
        return f"exit code {code}"
    try:
        return f"killed by {signal.Signals(-code).name}"
    except ValueError:
        return f"killed by signal {-code}"
