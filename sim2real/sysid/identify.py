"""System identification: the dynamics values, within a spec's ranges, that best reproduce data.

:func:`identify` checks everything (data file, env, spec, parameters, sizes) before it
starts any work, then searches with CMA-ES (:mod:`sim2real.sysid.search`) and analyses the
fit (:mod:`sim2real.sysid.analysis`); :mod:`sim2real.sysid.report` writes what it found.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np

from sim2real import limits
from sim2real.data import RecordedData, check_env, load_data
from sim2real.envs import env_ids
from sim2real.errors import UserError
from sim2real.randomization import RandomizationSpec
from sim2real.sysid.analysis import Analysis, analyse, latency_identified, probe_points
from sim2real.sysid.objective import Replayer, Segment
from sim2real.sysid.search import Evaluator, Problem, SearchResult, cma_search
from sim2real.sysid.space import LATENCY, Coordinate, SearchSpace, search_space

__all__ = ["BUDGET", "HORIZON", "Fit", "Identification", "Setup", "identify", "prepare"]

BUDGET = limits.Limit(10**6, "each evaluation replays the whole data set", 20_000, "a long search")
MIN_BUDGET = 10
HORIZON = limits.Limit(10_000, "longer than any episode", 200, "chaotic, hard-to-fit replays")


@dataclass(frozen=True)
class Fit:
    coordinate: Coordinate
    value: float
    std: float  # absolute uncertainty; NaN when the data cannot tell the value
    identified: bool


@dataclass(frozen=True)
class Setup:
    """Checked inputs: what :func:`identify` runs on."""

    data_path: Path
    data: RecordedData
    spec: RandomizationSpec
    space: SearchSpace
    budget: int
    workers: int
    seed: int
    horizon: int


@dataclass(frozen=True)
class Identification:
    setup: Setup
    space: SearchSpace  # the search space of the fit (its latency fixed, when one was searched)
    fits: tuple[Fit, ...]
    search: SearchResult
    analysis: Analysis
    latency: float | None  # the best whole-step action latency, when the spec ranges it
    latency_losses: tuple[tuple[float, float], ...]  # (latency, best loss) for each tried
    latency_identified: bool
    nominal_loss: float
    fit_loss: float
    recorded: np.ndarray  # (steps, dims) recorded state after each step
    before: np.ndarray  # ... simulated with nominal values
    after: np.ndarray  # ... simulated with the fit
    segments: tuple[Segment, ...]  # how the replay cut the episodes
    evaluations: int  # every loss evaluation, the analysis's included
    wall_s: float

    @property
    def identified(self) -> tuple[Fit, ...]:
        return tuple(fit for fit in self.fits if fit.identified)


def prepare(
    data_path: str | Path,
    spec: RandomizationSpec,
    params: Sequence[str] = (),
    budget: int = 1000,
    workers: int = 1,
    seed: int = 0,
    horizon: int = 10,
) -> Setup:
    """Check every input; a problem is a one-line :class:`UserError` before any work."""
    limits.check_count(budget, BUDGET, "--budget", minimum=MIN_BUDGET)
    limits.check_count(workers, limits.WORKERS, "--workers")
    limits.check_count(seed, limits.SEED, "--seed", minimum=0)
    limits.check_count(horizon, HORIZON, "--horizon")
    data = load_data(data_path)
    if data.env_id not in env_ids():
        raise UserError(
            f"{data_path}: recorded on env {data.env_id!r}, which is not registered; "
            f"valid: {', '.join(env_ids())}"
        )
    env = gym.make(data.env_id)
    try:
        check_env(data, env, str(data_path))
        space = search_space(env.unwrapped, spec, params)
    finally:
        env.close()
    tries = max(1, len(space.latencies))
    if budget // tries < MIN_BUDGET:
        raise UserError(
            f"--budget = {budget} is shared by the {tries} latencies the spec allows; give at "
            f"least {MIN_BUDGET * tries}"
        )
    return Setup(Path(data_path), data, spec, space, budget, workers, seed, horizon)


def identify(setup: Setup) -> Identification:
    """Search (each whole-step latency in turn, when the spec ranges one), keep the best fit
    and analyse it (see the module docstrings of search and analysis)."""
    started = time.perf_counter()
    latencies = setup.space.latencies or (None,)
    candidates = [
        _fit(setup, setup.space if latency is None else setup.space.with_latency(latency))
        for latency in latencies
    ]
    best = min(candidates, key=lambda candidate: candidate.search.loss)
    nominal = Replayer(setup.data, dataclasses.replace(setup.space, latencies=()), setup.horizon)
    try:
        nominal_loss = nominal.loss(setup.space.nominal)
        before = nominal.simulate(setup.space.nominal)
    finally:
        nominal.close()
    space, search, analysis = best.space, best.search, best.analysis
    widths = space.high - space.low
    fits = tuple(
        Fit(c, float(value), float(std * width) if ok else math.nan, bool(ok))
        for c, value, std, width, ok in zip(
            space.coordinates, best.values, analysis.std, widths, analysis.identified, strict=True
        )
    )
    return Identification(
        setup=setup,
        space=space,
        fits=fits,
        search=search,
        analysis=analysis,
        latency=_latency(best.space) if setup.space.latencies else None,
        latency_losses=tuple(
            (float(latency), c.search.loss)
            for latency, c in zip(setup.space.latencies, candidates, strict=False)
        ),
        latency_identified=latency_identified([c.search.loss for c in candidates]),
        nominal_loss=nominal_loss,
        fit_loss=search.loss,
        recorded=best.recorded,
        before=before,
        after=best.after,
        segments=best.segments,
        evaluations=sum(c.search.evaluations + 2 * space.size for c in candidates),
        wall_s=time.perf_counter() - started,
    )


@dataclass(frozen=True)
class _Candidate:
    """One search and its analysis, in one space (one latency)."""

    space: SearchSpace
    search: SearchResult
    analysis: Analysis
    values: np.ndarray
    recorded: np.ndarray
    after: np.ndarray
    segments: tuple[Segment, ...]


def _fit(setup: Setup, space: SearchSpace) -> _Candidate:
    budget = setup.budget // max(1, len(setup.space.latencies))
    with Evaluator(Problem(setup.data_path, space, setup.horizon), setup.workers) as evaluator:
        replayer = evaluator.local
        search = cma_search(
            lambda units: evaluator.losses([space.to_values(u) for u in units]),
            space.size,
            budget,
            setup.seed,
        )
        fitted = space.to_values(search.unit)
        probes = probe_points(search.unit)
        probe_residuals = evaluator.residuals([space.to_values(p) for p in probes])
        analysis = analyse(
            replayer.residuals(fitted),
            probes,
            probe_residuals,
            replayer.weight,
            replayer.segments,
            replayer.loss(space.nominal),
            search.spread,
            np.random.default_rng(setup.seed),
        )
        after = replayer.simulate(fitted)
        return _Candidate(
            space, search, analysis, fitted, replayer.target, after, tuple(replayer.segments)
        )


def _latency(space: SearchSpace) -> float:
    return float(space.fixed[LATENCY]["latency"])
