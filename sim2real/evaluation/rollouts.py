"""Deterministic, seeded episode rollouts of a :class:`Predictor`, in parallel across cores.

The unit of work is a :class:`RolloutJob`: one policy, one env condition (a randomization
spec, fixed dynamics, or neither = nominal), one seed, ``episodes`` episodes. A job makes a
fresh env, resets it with ``seed`` once and runs its episodes back to back (later resets
continue the env's own RNG stream, as SB3's ``evaluate_policy`` does on a seeded env), and
seeds torch with ``seed`` for stochastic actions. So a job's returns depend only on the job,
never on which worker ran it or what ran before: results are identical for any ``workers``.

Workers are separate processes (``spawn``: PyBullet and torch do not survive ``fork``
reliably); each loads the policy itself from its path (run directory or bundle) and caches
it, so no model is pickled. Torch runs single-threaded in rollouts, in workers and in-process
alike, which keeps the arithmetic, and therefore every action, the same.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from sim2real.evaluation.conditions import Condition, make_env
from sim2real.policies.predictor import Predictor, load_predictor

__all__ = [
    "Condition",  # defined in sim2real.evaluation.conditions; studies import it from here too
    "EpisodeBatch",
    "RolloutJob",
    "default_workers",
    "get_predictor",
    "rollout",
    "run_jobs",
]


@dataclass(frozen=True)
class RolloutJob:
    policy: str  # run directory or policy bundle; each worker loads it itself
    env_id: str
    condition: Condition
    seed: int
    episodes: int
    env_kwargs: Mapping[str, Any] = field(default_factory=dict)
    deterministic: bool = True


@dataclass(frozen=True)
class EpisodeBatch:
    """Per-episode results of one job: ``returns (episodes,)``, ``lengths (episodes,)``."""

    returns: np.ndarray
    lengths: np.ndarray


def rollout(
    predictor: Predictor, env: gym.Env, seed: int, episodes: int, deterministic: bool = True
) -> EpisodeBatch:
    """Run ``episodes`` full episodes; the first reset uses ``seed``, later ones continue."""
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    _seed_torch(seed)
    returns, lengths = np.zeros(episodes), np.zeros(episodes, dtype=np.int64)
    reset = getattr(predictor, "reset", None)
    for episode in range(episodes):
        observation, _ = env.reset(seed=seed if episode == 0 else None)
        if reset is not None:
            reset()
        total, steps, done = 0.0, 0, False
        while not done:
            action = predictor.predict(observation, deterministic=deterministic)
            observation, reward, terminated, truncated, _ = env.step(action)
            total, steps, done = total + float(reward), steps + 1, terminated or truncated
        returns[episode], lengths[episode] = total, steps
    return EpisodeBatch(returns, lengths)


# One cache per process: a worker loads each policy once, whatever number of jobs it runs.
_PREDICTORS: dict[str, Predictor] = {}


def get_predictor(policy: str | Path) -> Predictor:
    """Load (once per process) the predictor at ``policy``."""
    key = str(Path(policy).resolve())
    if key not in _PREDICTORS:
        _PREDICTORS[key] = load_predictor(key)
    return _PREDICTORS[key]


def run_job(job: RolloutJob) -> EpisodeBatch:
    predictor = get_predictor(job.policy)
    env = make_env(job.env_id, job.condition, job.env_kwargs)
    try:
        return rollout(predictor, env, job.seed, job.episodes, job.deterministic)
    finally:
        env.close()


def default_workers() -> int:
    """One worker per core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def run_jobs(
    jobs: Sequence[RolloutJob], workers: int | None = None, progress: bool = False
) -> list[EpisodeBatch]:
    """Run ``jobs`` on ``workers`` processes (1: in this process); results in job order."""
    workers = default_workers() if workers is None else workers
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    workers = min(workers, len(jobs))
    if workers <= 1:
        with _single_threaded_torch():
            return [run_job(job) for job in _progress(jobs, progress, len(jobs))]
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(
        workers, mp_context=context, initializer=_init_worker, initargs=(os.getpid(),)
    )
    try:
        # Small chunks keep the cores busy when jobs differ in length.
        results = pool.map(run_job, jobs, chunksize=1)
        return list(_progress(results, progress, len(jobs)))
    except KeyboardInterrupt:
        # Drop the queued jobs; the running ones finish (one job each) and the workers exit.
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    finally:
        pool.shutdown(wait=True)


def _init_worker(parent_pid: int) -> None:
    import signal

    import torch

    from sim2real.processes import die_with_parent

    # Ctrl-C and SIGTERM reach the whole process group: only the parent handles them (it
    # drops the queued jobs and waits for the running ones); a parent that dies takes the
    # workers with it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    die_with_parent(parent_pid, signal.SIGKILL)
    torch.set_num_threads(1)


@contextlib.contextmanager
def _single_threaded_torch() -> Iterator[None]:
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _seed_torch(seed: int) -> None:
    """Seed torch's global RNG, used by SB3 to sample stochastic actions."""
    import sys

    torch = sys.modules.get("torch")  # a numpy-only predictor never imports torch
    if torch is not None:
        torch.manual_seed(seed)


def _progress(items: Any, enabled: bool, total: int) -> Any:
    if not enabled:
        return items
    from tqdm import tqdm

    return tqdm(items, total=total, desc="rollouts", unit="job", leave=False)
