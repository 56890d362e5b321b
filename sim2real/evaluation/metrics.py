"""Return statistics for transfer evaluation: IQM, stratified bootstrap CIs, transfer gap.

Pure functions over arrays, following rliable (Agarwal et al., NeurIPS 2021). Randomness
comes only from the ``numpy.random.Generator`` passed in, so results are reproducible; the
resampling itself is :mod:`sim2real.evaluation.bootstrap`.

Conventions: a *score matrix* is shaped ``(n_runs, n_strata)`` as in rliable (rows are
runs/seeds/episodes, columns are tasks/targets); a 1-D array is a single stratum.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np
import scipy.stats
from numpy.typing import ArrayLike

from sim2real.evaluation.bootstrap import Statistic, bootstrap

__all__ = [
    "ReturnSummary",
    "TransferGap",
    "as_score_vector",
    "fraction_gap_closed",
    "iqm",
    "probability_of_improvement",
    "regret",
    "stratified_bootstrap_ci",
    "summarize_returns",
    "transfer_gap",
]


def as_score_vector(values: ArrayLike, name: str = "scores") -> np.ndarray:
    """Flatten ``values`` (any shape) to a finite, non-empty float vector ``(n,)``."""
    arr = np.asarray(values, dtype=float).ravel()
    if arr.size == 0:
        raise ValueError(f"{name} is empty; pass at least one score.")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or inf; drop or fix those entries first.")
    return arr


def _check_finite(name: str, value: float) -> float:
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}.")
    return value


def iqm(scores: ArrayLike) -> float:
    """Interquartile mean: the 25% trimmed mean of all scores pooled (any shape).

    Same definition as ``rliable.metrics.aggregate_iqm``: ``floor(0.25 * n)`` scores are
    cut from each end of the sorted pooled scores, the rest are averaged.
    """
    return float(scipy.stats.trim_mean(as_score_vector(scores), proportiontocut=0.25))


def _strata_list(
    scores_by_stratum: Mapping[str, ArrayLike] | Sequence[ArrayLike] | np.ndarray,
) -> list[np.ndarray]:
    """Normalize the accepted stratum layouts to a list of 1-D score vectors."""
    if isinstance(scores_by_stratum, Mapping):
        items = list(scores_by_stratum.items())
    elif isinstance(scores_by_stratum, np.ndarray):
        if scores_by_stratum.ndim == 1:
            items = [("stratum 0", scores_by_stratum)]
        elif scores_by_stratum.ndim == 2:  # rliable layout: (n_runs, n_strata)
            items = [(f"stratum {j}", col) for j, col in enumerate(scores_by_stratum.T)]
        else:
            raise ValueError(
                f"score array must be 1-D (n,) or 2-D (n_runs, n_strata), "
                f"got shape {scores_by_stratum.shape}."
            )
    else:
        items = [(f"stratum {j}", s) for j, s in enumerate(scores_by_stratum)]
    if not items:
        raise ValueError("scores_by_stratum is empty; pass at least one stratum of scores.")
    strata = []
    for name, values in items:
        if np.ndim(values) != 1:
            raise ValueError(
                f"{name} must be a 1-D array of scores, got shape {np.shape(values)}; "
                "wrap a single array of scores as [scores]."
            )
        strata.append(as_score_vector(values, name=str(name)))
    return strata


def stratified_bootstrap_ci(
    scores_by_stratum: Mapping[str, ArrayLike] | Sequence[ArrayLike] | np.ndarray,
    statistic: Statistic,
    rng: np.random.Generator,
    n_boot: int = 2000,
    confidence: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap CI of ``statistic`` with resampling inside each stratum.

    Args:
        scores_by_stratum: one score vector per stratum (task/target), as a mapping
            ``name -> (n_i,)``, a sequence of ``(n_i,)`` arrays, or an ndarray shaped
            ``(n_runs, n_strata)`` (rliable layout) or ``(n,)`` (single stratum).
        statistic: maps the pooled resampled scores ``(sum n_i,)`` to a float,
            e.g. :func:`iqm` or ``np.mean``.
        rng: the only source of randomness; same generator state -> same interval.
        n_boot: number of bootstrap replicates.
        confidence: coverage of the two-sided percentile interval.

    Returns:
        ``(low, high)``.
    """
    estimate = bootstrap([_strata_list(scores_by_stratum)], statistic, rng, n_boot, confidence)
    return estimate.ci_low, estimate.ci_high


@dataclass(frozen=True)
class ReturnSummary:
    """Summary of returns: point estimates and a bootstrap CI of ``ci_statistic``."""

    mean: float
    iqm: float
    ci_low: float
    ci_high: float
    n: int
    ci_statistic: str = "iqm"


def summarize_returns(
    returns: ArrayLike | Mapping[str, ArrayLike] | Sequence[ArrayLike],
    rng: np.random.Generator,
    n_boot: int = 2000,
    confidence: float = 0.95,
    ci_statistic: Literal["iqm", "mean"] = "iqm",
) -> ReturnSummary:
    """Mean, IQM and a stratified bootstrap CI of episode/run returns.

    Args:
        returns: ``(n,)`` returns of one stratum, an ndarray ``(n_runs, n_strata)`` score
            matrix, or a mapping/list of per-stratum ``(n_i,)`` vectors (e.g. one per target).
        rng: generator for the bootstrap.
        ci_statistic: which statistic the CI is for (``"iqm"`` as rliable recommends).
    """
    statistics: dict[str, Statistic] = {"iqm": iqm, "mean": lambda x: float(np.mean(x))}
    if ci_statistic not in statistics:
        raise ValueError(f"ci_statistic must be one of {sorted(statistics)}, got {ci_statistic!r}.")
    if not isinstance(returns, (Mapping, np.ndarray)):
        # A list of arrays is one stratum each (never a matrix); a list of numbers is one.
        returns = list(returns)
        if not any(np.ndim(r) > 0 for r in returns):
            returns = np.asarray(returns, dtype=float)
    strata = _strata_list(returns)
    pooled = np.concatenate(strata)
    low, high = stratified_bootstrap_ci(strata, statistics[ci_statistic], rng, n_boot, confidence)
    return ReturnSummary(
        mean=float(np.mean(pooled)),
        iqm=iqm(pooled),
        ci_low=low,
        ci_high=high,
        n=int(pooled.size),
        ci_statistic=ci_statistic,
    )


class TransferGap(NamedTuple):
    """``(absolute, normalized)`` transfer gap; unpacks like a tuple."""

    absolute: float
    normalized: float


def transfer_gap(j_source: float, j_target: float) -> TransferGap:
    """Transfer gap ``J_S(pi) - J_T(pi)`` and that gap divided by ``|J_S(pi)|``.

    Positive means the policy loses performance on the target. ``normalized`` is NaN when
    ``J_S == 0``, where a relative loss is undefined.
    """
    j_source = _check_finite("j_source", j_source)
    j_target = _check_finite("j_target", j_target)
    absolute = j_source - j_target
    normalized = absolute / abs(j_source) if j_source != 0.0 else math.nan
    return TransferGap(absolute, normalized)


def regret(j_target_oracle: float, j_target_policy: float) -> float:
    """Regret on the target: ``J_T(pi*_T) - J_T(pi)``, with ``pi*_T`` trained on the target."""
    oracle = _check_finite("j_target_oracle", j_target_oracle)
    return oracle - _check_finite("j_target_policy", j_target_policy)


def fraction_gap_closed(j_before: float, j_after: float, j_oracle: float) -> float:
    """Fraction of the gap closed: ``(after - before) / (oracle - before)``.

    1 means the adapted policy matches the oracle, 0 no change, negative a regression; values
    above 1 mean it beat the oracle. NaN when ``j_oracle == j_before`` (no gap to close).
    """
    before = _check_finite("j_before", j_before)
    after = _check_finite("j_after", j_after)
    oracle = _check_finite("j_oracle", j_oracle)
    gap = oracle - before
    return (after - before) / gap if gap != 0.0 else math.nan


def probability_of_improvement(x: ArrayLike, y: ArrayLike) -> float:
    """``P(X > Y) + 0.5 P(X = Y)`` estimated as Mann-Whitney ``U / (n * m)``.

    Args:
        x: ``(n,)`` scores of algorithm X (any shape, pooled).
        y: ``(m,)`` scores of algorithm Y.
    """
    x = as_score_vector(x, name="x")
    y = as_score_vector(y, name="y")
    # Average ranks give tied pairs half a win, exactly the 0.5 tie rule.
    ranks = scipy.stats.rankdata(np.concatenate([x, y]))
    u_x = ranks[: x.size].sum() - x.size * (x.size + 1) / 2.0
    return float(u_x / (x.size * y.size))
