"""Evaluating candidates in parallel and searching them with CMA-ES.

:class:`Evaluator` runs the objective on ``workers`` processes (``spawn``: PyBullet does not
survive ``fork``), each with its own :class:`~sim2real.sysid.objective.Replayer` built once;
with one worker everything runs in this process. :func:`cma_search` minimizes the loss over
the unit cube with the ``cma`` package, never spending more than its budget of evaluations.
"""

from __future__ import annotations

import multiprocessing
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sim2real.data import load_data
from sim2real.errors import RunError
from sim2real.sysid.objective import Replayer
from sim2real.sysid.space import SearchSpace

__all__ = ["CmaSearch", "Evaluator", "Problem", "SearchResult", "cma_search"]

SIGMA0 = 0.25  # initial CMA-ES step, in units of each parameter's range
# A run whose best loss gained less than 1% over its last 40 generations restarts (IPOP).
STALL_GENERATIONS = 40
STALL_GAIN = 0.01


@dataclass(frozen=True)
class Problem:
    """What a worker needs to build its replayer (picklable, no env)."""

    data_path: Path
    space: SearchSpace
    horizon: int
    torques: bool = True  # measured torques join the error where the data hold them


class Evaluator:
    """Losses and residuals of absolute parameter vectors, on ``workers`` processes."""

    def __init__(self, problem: Problem, workers: int):
        self.local = _make_replayer(problem)
        self._pool: ProcessPoolExecutor | None = None
        if workers > 1:
            self._pool = ProcessPoolExecutor(
                workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=(problem,),
            )

    def __enter__(self) -> Evaluator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self.local.close()

    def losses(self, points: Sequence[np.ndarray]) -> list[float]:
        return self._map(_loss, points)

    def _map(self, function: Callable, points: Sequence[np.ndarray]) -> list:
        if self._pool is None:
            global _REPLAYER
            _REPLAYER = self.local
            return [function(point) for point in points]
        try:
            return list(self._pool.map(function, points))
        except BrokenProcessPool as error:
            raise RunError(f"an identify worker died ({error}); nothing was written") from None


@dataclass(frozen=True)
class SearchResult:
    unit: np.ndarray  # best point in the unit cube
    loss: float
    evaluations: int
    curve: list[tuple[int, float, float]]  # per generation: evaluations, best so far, median
    spread: np.ndarray  # CMA-ES standard deviation per coordinate (unit cube) at the best point
    stop: str  # why the search stopped


class CmaSearch:
    """CMA-ES over ``[0, 1]^size`` from the centre, run in slices of evaluations (so several
    searches can share a budget), never past the evaluations it is given.

    A search that has stalled, its best loss improved by less than :data:`STALL_GAIN` over
    the last :data:`STALL_GENERATIONS` generations, is converging to a floor: a local minimum,
    or the noise of the data. With budget left it restarts from a random point of the cube
    with twice the population (IPOP-CMA-ES, Auger & Hansen 2005); the best point of all runs
    is the result. A search converging to an exact fit keeps improving and never restarts.
    """

    def __init__(self, size: int, seed: int):
        self.size = size
        self._seed = seed
        self._rng = np.random.default_rng(seed)
        self._budget = 0
        self._spent = 0  # evaluations of the runs before the current one
        self._restarts = 0
        self._curve: list[tuple[int, float, float]] = []
        self._best_unit, self._best_loss = np.full(size, 0.5), np.inf
        self._best_spread = np.full(size, SIGMA0)
        self._strategy = self._new_strategy([0.5] * size, popsize=None)

    def _new_strategy(self, start: Sequence[float], popsize: int | None) -> Any:
        import cma

        # cma needs two dimensions; a dummy one the loss never sees keeps one optimizer for all.
        options: dict[str, Any] = {
            "bounds": [0.0, 1.0],
            "seed": self._seed + 1 + self._restarts,  # seed 0 = clock
            "verbose": -9,
        }
        if popsize is not None:
            options["popsize"] = popsize
        start = list(start) + [0.5] * (max(self.size, 2) - self.size)
        self._run_curve: list[float] = []  # best loss of this run per generation
        return cma.CMAEvolutionStrategy(start, SIGMA0, options)

    def run(self, losses: Callable[[list[np.ndarray]], list[float]], evaluations: int) -> None:
        """Spend up to ``evaluations`` more (whole generations only)."""
        self._budget += evaluations
        while True:
            strategy = self._strategy
            if self._stalled() or strategy.stop():
                popsize = 2 * strategy.popsize
                if self._spent + strategy.countevals + 2 * popsize > self._budget:
                    return  # not enough left for a restart to get anywhere
                self._spent += strategy.countevals
                self._restarts += 1
                self._strategy = self._new_strategy(self._rng.uniform(size=self.size), popsize)
                continue
            if self._spent + strategy.countevals + strategy.popsize > self._budget:
                return
            candidates = strategy.ask()
            values = losses([np.asarray(c[: self.size]) for c in candidates])
            strategy.tell(candidates, values)
            index = int(np.argmin(values))
            if values[index] < self._best_loss:
                self._best_unit = np.asarray(candidates[index][: self.size])
                self._best_loss = float(values[index])
                self._best_spread = np.asarray(strategy.result.stds[: self.size])
            run_best = min(values[index], self._run_curve[-1]) if self._run_curve else values[index]
            self._run_curve.append(float(run_best))
            evaluated = self._spent + strategy.countevals
            self._curve.append((evaluated, self._best_loss, float(np.median(values))))

    def _stalled(self) -> bool:
        curve = self._run_curve
        if len(curve) <= STALL_GENERATIONS:
            return False
        before, now = curve[-1 - STALL_GENERATIONS], curve[-1]
        return now > 0.0 and before - now < STALL_GAIN * now

    @property
    def loss(self) -> float:
        return self._best_loss

    def result(self) -> SearchResult:
        strategy = self._strategy
        reasons = dict(strategy.stop()) or {"budget": self._budget}
        if self._restarts:
            reasons[f"{self._restarts} restart(s)"] = True
        return SearchResult(
            unit=np.clip(self._best_unit, 0.0, 1.0),
            loss=self._best_loss,
            evaluations=self._spent + strategy.countevals,
            curve=list(self._curve),
            spread=self._best_spread,
            stop=", ".join(sorted(reasons)),
        )


def cma_search(
    losses: Callable[[list[np.ndarray]], list[float]], size: int, budget: int, seed: int
) -> SearchResult:
    """Minimize over ``[0, 1]^size``, starting at the centre, within ``budget`` evaluations."""
    search = CmaSearch(size, seed)
    search.run(losses, budget)
    return search.result()


# -- worker side ---------------------------------------------------------------------

_REPLAYER: Replayer | None = None


def _make_replayer(problem: Problem) -> Replayer:
    data = load_data(problem.data_path)
    where = str(problem.data_path)
    return Replayer(data, problem.space, problem.horizon, where, problem.torques)


def _init_worker(problem: Problem) -> None:
    # Ctrl-C reaches the whole process group: the parent handles it and shuts the pool down
    # (a worker whose parent is gone reads EOF from its queue and exits).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    global _REPLAYER
    _REPLAYER = _make_replayer(problem)


def _loss(values: np.ndarray) -> float:
    assert _REPLAYER is not None
    return _REPLAYER.loss(values)
