"""System identification: the dynamics values, within a spec's ranges, that best reproduce data.

:func:`identify` checks everything (data file, env, spec, parameters, sizes) before it
starts any work, then searches with CMA-ES (:mod:`sim2real.sysid.search`) and analyses the
fit (:mod:`sim2real.sysid.analysis`); :mod:`sim2real.sysid.report` writes what it found.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np

from sim2real import limits
from sim2real.data import RecordedData, check_env, load_data
from sim2real.envs import env_ids
from sim2real.errors import UserError
from sim2real.randomization import RandomizationSpec
from sim2real.sysid.analysis import Analysis, analyse, analysis_cost, latency_identified
from sim2real.sysid.objective import Replayer, Segment, check_torque_joints
from sim2real.sysid.search import CmaSearch, Evaluator, Problem, SearchResult
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
    torques: bool  # the data's measured torques are part of the error


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
    budget_option: str = "--budget",
    torques: bool = True,
) -> Setup:
    """Check every input; a problem is a one-line :class:`UserError` before any work.

    ``budget_option`` names the budget in messages (``transfer`` calls it --identify-budget).
    ``torques``: fit the data's measured joint torques too, where the file holds them.
    """
    limits.check_count(budget, BUDGET, budget_option, minimum=MIN_BUDGET)
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
        torques = torques and data.joint_torques is not None
        if torques:
            check_torque_joints(data, env, str(data_path))
        space = search_space(env.unwrapped, spec, params)
    finally:
        env.close()
    check_budget_shares(budget, space, budget_option)
    return Setup(Path(data_path), data, spec, space, budget, workers, seed, horizon, torques)


def check_budget_shares(budget: int, space: SearchSpace, budget_option: str) -> None:
    """Each latency the spec allows gets its share of the budget: enough for a search."""
    shares = 2 * len(space.latencies) if space.latencies else 1
    if budget // shares < MIN_BUDGET:
        raise UserError(
            f"{budget_option} = {budget}: half of it is shared by the "
            f"{len(space.latencies)} latencies the spec allows; give at least "
            f"{MIN_BUDGET * shares}"
        )


def plan(setup: Setup) -> str:
    """One line of what :func:`identify` will spend, said before it starts."""
    least, per_flat = analysis_cost(setup.space.size)
    return (
        f"identifying {setup.space.size} value(s) from {setup.data_path} ({setup.data.episodes} "
        f"episodes, {setup.data.steps} steps) within {setup.spec.source}: {setup.budget} "
        f"evaluations, then at least {least} more to analyse the fit (and about {per_flat} per "
        "flat direction it finds)"
    )


def identify(setup: Setup) -> Identification:
    """Search, then analyse the fit (see the module docstrings of search and analysis).

    When the spec ranges the action latency, each of its whole steps first gets an equal
    share of half the budget; the latency with the lowest loss then continues its search with
    the rest.
    """
    started = time.perf_counter()
    latencies = setup.space.latencies or (None,)
    spaces = [setup.space if lat is None else setup.space.with_latency(lat) for lat in latencies]
    searches = [CmaSearch(setup.space.size, setup.seed) for _ in spaces]
    if len(spaces) > 1:
        for space, search in zip(spaces, searches, strict=True):
            with _evaluator(setup, space) as evaluator:
                search.run(_losses(evaluator, space), setup.budget // (2 * len(spaces)))
    latency_losses = tuple(
        (float(latency), search.loss)
        for latency, search in zip(setup.space.latencies, searches, strict=False)
    )
    best = int(np.argmin([search.loss for search in searches]))
    space, search = spaces[best], searches[best]
    spent = sum(s.result().evaluations for s in searches)
    first_share = search.result().evaluations
    with _evaluator(setup, space) as evaluator:
        search.run(_losses(evaluator, space), setup.budget - spent)
        result = search.result()
        fitted = space.to_values(result.unit)
        analysis, after = _analyse(setup, space, result, fitted, evaluator)
        replayer = evaluator.local
        recorded, segments = replayer.target, tuple(replayer.segments)
    nominal = Replayer(
        setup.data,
        dataclasses.replace(setup.space, latencies=()),
        setup.horizon,
        torques=setup.torques,
    )
    try:
        nominal_loss = nominal.loss(setup.space.nominal)
        before = nominal.simulate(setup.space.nominal)
    finally:
        nominal.close()
    widths = space.high - space.low
    fits = tuple(
        Fit(c, float(value), float(std * width) if ok else math.nan, bool(ok))
        for c, value, std, width, ok in zip(
            space.coordinates, fitted, analysis.std, widths, analysis.identified, strict=True
        )
    )
    return Identification(
        setup=setup,
        space=space,
        fits=fits,
        search=result,
        analysis=analysis,
        latency=_latency(space) if setup.space.latencies else None,
        latency_losses=latency_losses,
        latency_identified=latency_identified([loss for _, loss in latency_losses]),
        nominal_loss=nominal_loss,
        fit_loss=result.loss,
        recorded=recorded,
        before=before,
        after=after,
        segments=segments,
        evaluations=spent - first_share + result.evaluations + analysis.evaluations,
        wall_s=time.perf_counter() - started,
    )


def _evaluator(setup: Setup, space: SearchSpace) -> Evaluator:
    return Evaluator(Problem(setup.data_path, space, setup.horizon, setup.torques), setup.workers)


def _losses(evaluator: Evaluator, space: SearchSpace) -> Callable[[list[np.ndarray]], list[float]]:
    return lambda units: evaluator.losses([space.to_values(u) for u in units])


def _analyse(
    setup: Setup,
    space: SearchSpace,
    result: SearchResult,
    fitted: np.ndarray,
    evaluator: Evaluator,
) -> tuple[Analysis, np.ndarray]:
    """The analysis of the fit, and the states it simulates."""
    replayer = evaluator.local
    analysis = analyse(
        losses=_losses(evaluator, space),
        unit=result.unit,
        fit_loss=result.loss,
        typical_loss=result.curve[0][2] if result.curve else result.loss,
        symmetries=space.scale_directions,
        spread=result.spread,
        entries=len(replayer.segments) * replayer.dimensions,
        seed=setup.seed,
    )
    return analysis, replayer.simulate(fitted)


def _latency(space: SearchSpace) -> float:
    return float(space.fixed[LATENCY]["latency"])
