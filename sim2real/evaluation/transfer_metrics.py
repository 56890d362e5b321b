"""Learning-curve transfer metrics of Taylor & Stone (JMLR 2009), with bootstrap CIs.

A transferred learner and a learner from scratch are both trained on the *target*; their
evaluation curves are arrays shaped ``(n_seeds, n_points)`` sampled at shared ``timesteps``
``(n_points,)``, counted in target-environment samples. Curves logged at slightly different
steps are first put on one grid with :func:`align_curves`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import ArrayLike

from sim2real.evaluation.bootstrap import Estimate, bootstrap_each

__all__ = [
    "Estimate",
    "TaylorStoneReport",
    "align_curves",
    "area_under_curve",
    "asymptotic_performance",
    "initial_performance",
    "jumpstart",
    "taylor_stone",
    "time_to_threshold",
    "transfer_ratio",
]


def _as_timesteps(timesteps: ArrayLike, name: str = "timesteps") -> np.ndarray:
    t = np.asarray(timesteps, dtype=float)
    if t.ndim != 1 or t.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {t.shape}.")
    if not np.all(np.isfinite(t)):
        raise ValueError(f"{name} contains NaN or inf.")
    if np.any(np.diff(t) <= 0):
        raise ValueError(f"{name} must be strictly increasing; sort the evaluations by step.")
    return t


def _as_curves(curves: ArrayLike, name: str = "curves") -> np.ndarray:
    """Curves as ``(n_seeds, n_points)``; a single ``(n_points,)`` curve becomes one seed."""
    c = np.asarray(curves, dtype=float)
    if c.ndim == 1:
        c = c[None, :]
    if c.ndim != 2 or c.size == 0:
        raise ValueError(
            f"{name} must be a non-empty (n_seeds, n_points) array, got shape {np.shape(curves)}."
        )
    if not np.all(np.isfinite(c)):
        raise ValueError(f"{name} contains NaN or inf; resample with align_curves or drop them.")
    return c


def _curves_on(curves: ArrayLike, timesteps: ArrayLike, name: str) -> tuple[np.ndarray, np.ndarray]:
    c, t = _as_curves(curves, name), _as_timesteps(timesteps)
    if c.shape[1] != t.size:
        raise ValueError(
            f"{name} has {c.shape[1]} points per seed but timesteps has {t.size}; "
            "put the curves on the timesteps grid first (align_curves)."
        )
    return c, t


def _same_points(transfer: np.ndarray, scratch: np.ndarray) -> None:
    if transfer.shape[1] != scratch.shape[1]:
        raise ValueError(
            f"transfer_curves have {transfer.shape[1]} points but scratch_curves have "
            f"{scratch.shape[1]}; both must be sampled at the same timesteps."
        )


def initial_performance(curves: ArrayLike) -> np.ndarray:
    """First point of each curve: ``(n_seeds, n_points) -> (n_seeds,)``."""
    return _as_curves(curves)[:, 0]


def jumpstart(transfer_curves: ArrayLike, scratch_curves: ArrayLike) -> float:
    """Mean initial performance of the transferred learner minus that of the scratch one."""
    t, s = (
        _as_curves(transfer_curves, "transfer_curves"),
        _as_curves(scratch_curves, "scratch_curves"),
    )
    _same_points(t, s)
    return float(t[:, 0].mean() - s[:, 0].mean())


def _default_k(n_points: int) -> int:
    return max(1, n_points // 10)


def asymptotic_performance(curves: ArrayLike, k: int | None = None) -> np.ndarray:
    """Mean of the last ``k`` points per seed: ``(n_seeds, n_points) -> (n_seeds,)``.

    ``k`` defaults to the last 10% of the points (``n_points // 10``, at least 1).
    """
    c = _as_curves(curves)
    k = _default_k(c.shape[1]) if k is None else k
    if int(k) != k or not 1 <= k <= c.shape[1]:
        raise ValueError(f"k must be an integer in [1, {c.shape[1]}] (n_points), got {k}.")
    return c[:, -int(k) :].mean(axis=1)


def area_under_curve(curves: ArrayLike, timesteps: ArrayLike) -> np.ndarray:
    """Trapezoid area under each curve over ``timesteps`` ("total reward"): ``(n_seeds,)``."""
    c, t = _curves_on(curves, timesteps, "curves")
    return np.trapezoid(c, x=t, axis=1)


def transfer_ratio(
    transfer_curves: ArrayLike, scratch_curves: ArrayLike, timesteps: ArrayLike
) -> float:
    """``(AUC_transfer - AUC_scratch) / |AUC_scratch|`` on seed-mean areas; NaN if AUC_scratch=0."""
    auc_t = area_under_curve(transfer_curves, timesteps).mean()
    auc_s = area_under_curve(scratch_curves, timesteps).mean()
    return float((auc_t - auc_s) / abs(auc_s)) if auc_s != 0.0 else math.nan


def time_to_threshold(curves: ArrayLike, timesteps: ArrayLike, threshold: float) -> np.ndarray:
    """First logged timestep at which each curve is ``>= threshold``: ``(n_seeds,)``.

    NaN for a seed that never reaches it. No interpolation between logged points, so the
    answer is only as fine as the evaluation interval. Timesteps count target samples only.
    """
    c, t = _curves_on(curves, timesteps, "curves")
    if not math.isfinite(threshold):
        raise ValueError(f"threshold must be finite, got {threshold}.")
    reached = c >= threshold
    first = reached.argmax(axis=1)  # argmax of a bool row = first True (0 if none)
    return np.where(reached.any(axis=1), t[first], math.nan)


def _validated_runs(
    timesteps_per_run: Sequence[ArrayLike], values_per_run: Sequence[ArrayLike]
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per run ``(timesteps (n_i,), values (n_i,))``, checked for shape and order."""
    if len(timesteps_per_run) != len(values_per_run):
        raise ValueError(
            f"got {len(timesteps_per_run)} timestep arrays but {len(values_per_run)} value arrays."
        )
    if len(timesteps_per_run) == 0:
        raise ValueError("no runs given; pass at least one (timesteps, values) pair.")
    runs = []
    for i, (ts, vs) in enumerate(zip(timesteps_per_run, values_per_run, strict=True)):
        if np.ndim(ts) != 1 or np.ndim(vs) != 1 or np.size(ts) != np.size(vs) or np.size(ts) < 2:
            raise ValueError(
                f"run {i}: need matching 1-D timesteps and values with >= 2 points, "
                f"got shapes {np.shape(ts)} and {np.shape(vs)}."
            )
        t = _as_timesteps(ts, name=f"timesteps of run {i}")
        v = _as_curves(vs, name=f"values of run {i}")[0]
        runs.append((t, v))
    return runs


def align_curves(
    timesteps_per_run: Sequence[ArrayLike],
    values_per_run: Sequence[ArrayLike],
    grid: ArrayLike | None = None,
    n_points: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Linearly resample curves logged at different steps onto one grid.

    Args:
        timesteps_per_run: per run, its strictly increasing logged steps ``(n_i,)``.
        values_per_run: per run, the values at those steps ``(n_i,)``.
        grid: target steps ``(n_points,)``; must lie inside every run's logged range.
            Default: ``n_points`` evenly spaced steps over the range all runs cover.
        n_points: size of the default grid (default: the fewest points any run logged).

    Returns:
        ``(grid (n_points,), curves (n_runs, n_points))``.
    """
    runs = _validated_runs(timesteps_per_run, values_per_run)
    start = max(t[0] for t, _ in runs)
    end = min(t[-1] for t, _ in runs)
    if grid is None:
        if end <= start:
            raise ValueError(
                f"runs share no step range (latest start {start}, earliest end {end})."
            )
        n = min(t.size for t, _ in runs) if n_points is None else n_points
        if int(n) != n or n < 2:
            raise ValueError(f"n_points must be an integer >= 2, got {n_points}.")
        grid_arr = np.linspace(start, end, int(n))
    else:
        grid_arr = _as_timesteps(grid, name="grid")
        # np.interp would silently hold end values constant outside a run: refuse instead.
        if grid_arr[0] < start or grid_arr[-1] > end:
            raise ValueError(
                f"grid [{grid_arr[0]}, {grid_arr[-1]}] leaves the range covered by every run "
                f"[{start}, {end}]; shrink the grid rather than extrapolate."
            )
    return grid_arr, np.stack([np.interp(grid_arr, t, v) for t, v in runs])


@dataclass(frozen=True)
class TaylorStoneReport:
    """Every Taylor & Stone metric; time-to-threshold values are in target samples."""

    jumpstart: Estimate
    asymptotic_transfer: Estimate
    asymptotic_scratch: Estimate
    asymptotic_gain: Estimate
    auc_transfer: Estimate
    auc_scratch: Estimate
    transfer_ratio: Estimate
    time_to_threshold_transfer: Estimate
    time_to_threshold_scratch: Estimate
    reached_fraction_transfer: float
    reached_fraction_scratch: float
    threshold: float
    n_transfer: int
    n_scratch: int

    def as_dict(self) -> dict[str, float | int | dict[str, float]]:
        """Nested plain dict, ready for JSON."""
        return asdict(self)


def _mean(a: np.ndarray) -> np.ndarray:
    return a.mean(axis=-1)


def _mean_reached(a: np.ndarray) -> np.ndarray:
    """Mean over seeds that reached the threshold (NaN entries skipped); NaN if none did."""
    count = np.sum(~np.isnan(a), axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.nansum(a, axis=-1) / count


def _ratio(t: np.ndarray, s: np.ndarray) -> np.ndarray:
    auc_t, auc_s = _mean(t), _mean(s)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(auc_s != 0.0, (auc_t - auc_s) / np.abs(auc_s), math.nan)


# Per-seed values, the columns of a (n_seeds, 4) array; the bootstrap resamples its rows.
_PER_SEED = ("initial", "asymptote", "auc", "ttt")
PerSeed = dict[str, np.ndarray]
# name -> f(transfer per-seed values, scratch per-seed values); each value (b, n) -> (b,).
_METRICS: dict[str, Callable[[PerSeed, PerSeed], np.ndarray]] = {
    "jumpstart": lambda t, s: _mean(t["initial"]) - _mean(s["initial"]),
    "asymptotic_transfer": lambda t, s: _mean(t["asymptote"]),
    "asymptotic_scratch": lambda t, s: _mean(s["asymptote"]),
    "asymptotic_gain": lambda t, s: _mean(t["asymptote"]) - _mean(s["asymptote"]),
    "auc_transfer": lambda t, s: _mean(t["auc"]),
    "auc_scratch": lambda t, s: _mean(s["auc"]),
    "transfer_ratio": lambda t, s: _ratio(t["auc"], s["auc"]),
    "time_to_threshold_transfer": lambda t, s: _mean_reached(t["ttt"]),
    "time_to_threshold_scratch": lambda t, s: _mean_reached(s["ttt"]),
}


def _per_seed(curves: np.ndarray, timesteps: np.ndarray, k: int | None, thr: float) -> np.ndarray:
    """``(n_seeds, 4)``: the :data:`_PER_SEED` columns of each seed."""
    return np.stack(
        [
            curves[:, 0],
            asymptotic_performance(curves, k),
            area_under_curve(curves, timesteps),
            time_to_threshold(curves, timesteps, thr),
        ],
        axis=1,
    )


def _all_metrics(transfer: np.ndarray, scratch: np.ndarray) -> np.ndarray:
    """Vectorized statistic: per-seed values ``(b, n, 4)`` of both learners -> ``(b, 9)``."""
    t = {name: transfer[..., j] for j, name in enumerate(_PER_SEED)}
    s = {name: scratch[..., j] for j, name in enumerate(_PER_SEED)}
    return np.stack([metric(t, s) for metric in _METRICS.values()], axis=-1)


def taylor_stone(
    transfer_curves: ArrayLike,
    scratch_curves: ArrayLike,
    timesteps: ArrayLike,
    threshold: float | None = None,
    *,
    rng: np.random.Generator,
    n_boot: int = 2000,
    confidence: float = 0.95,
    k: int | None = None,
) -> TaylorStoneReport:
    """All Taylor & Stone (2009) metrics with percentile bootstrap CIs across seeds.

    Source-training samples are NOT counted: ``timesteps`` (and so time to threshold and
    AUC) measure target-environment samples from the start of target training, for both
    learners. Add the source budget yourself to compare total sample cost.

    Args:
        transfer_curves: ``(n_transfer_seeds, n_points)`` curves of the transferred learner.
        scratch_curves: ``(n_scratch_seeds, n_points)`` curves of the learner from scratch.
        timesteps: ``(n_points,)`` shared target-sample counts (see :func:`align_curves`).
        threshold: performance level for time to threshold. Default: 90% of the scratch
            asymptote, which must then be positive (else pass a threshold explicitly).
            It stays fixed across bootstrap replicates.
        rng: bootstrap generator (keyword-only); same state -> same CIs.
        n_boot: bootstrap replicates; transfer and scratch seeds are resampled independently.
        confidence: CI coverage.
        k: points averaged for the asymptote (default last 10%, see
            :func:`asymptotic_performance`).

    Time to threshold is the mean over seeds that reached the threshold (NaN if none did);
    ``reached_fraction_*`` reports how many did.
    """
    t_curves, ts = _curves_on(transfer_curves, timesteps, "transfer_curves")
    s_curves, _ = _curves_on(scratch_curves, ts, "scratch_curves")
    if threshold is None:
        asymptote = float(asymptotic_performance(s_curves, k).mean())
        if asymptote <= 0.0:
            raise ValueError(
                f"scratch asymptote is {asymptote:.4g} <= 0, so 90% of it is not a meaningful "
                "target; pass threshold explicitly."
            )
        threshold = 0.9 * asymptote
    t_vals = _per_seed(t_curves, ts, k, threshold)
    s_vals = _per_seed(s_curves, ts, k, threshold)
    # One statistic for all metrics: they share the resampled seeds, so stay consistent.
    estimates = bootstrap_each(
        [[t_vals], [s_vals]], _all_metrics, rng, n_boot, confidence, vectorized=True
    )
    ttt = _PER_SEED.index("ttt")
    return TaylorStoneReport(
        **dict(zip(_METRICS, estimates, strict=True)),
        reached_fraction_transfer=float(np.mean(~np.isnan(t_vals[:, ttt]))),
        reached_fraction_scratch=float(np.mean(~np.isnan(s_vals[:, ttt]))),
        threshold=float(threshold),
        n_transfer=int(t_curves.shape[0]),
        n_scratch=int(s_curves.shape[0]),
    )
