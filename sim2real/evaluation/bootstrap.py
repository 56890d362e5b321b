"""The one bootstrap: percentile CIs of any statistic, each stratum resampled on its own.

Modelled on rliable's ``get_interval_estimates`` (Agarwal et al., NeurIPS 2021): a statistic
over arrays, a stratified resampling scheme, the ``numpy.random.Generator`` passed in, and a
point estimate with its percentile interval back. Every CI in sim2real comes from here.

Layout of ``samples``: a sequence of *independent samples* (source and target returns, transfer
and scratch seeds), each resampled on its own. A sample is a sequence of *strata* (runs,
tasks); a stratum is an array ``(n_i, ...)`` whose first axis indexes the resampled units
(episodes, seeds, curves). A replicate draws every stratum's units with replacement, keeping
its size, so no stratum gains or loses weight; the statistic then sees each sample's strata
concatenated, ``(sum n_i, ...)``, one argument per sample.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "Estimate",
    "Statistic",
    "bootstrap",
    "bootstrap_each",
    "bootstrap_replicates",
    "percentile_interval",
]

# f(*pooled samples) -> scalar or (k,); vectorized: f(*(n_boot, sum n_i, ...)) -> (n_boot, ...).
Statistic = Callable[..., ArrayLike]
Strata = Sequence[ArrayLike]


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its percentile bootstrap CI (NaN ends where undefined)."""

    value: float
    ci_low: float = math.nan
    ci_high: float = math.nan


def _check_n_boot(n_boot: int) -> None:
    if int(n_boot) != n_boot or n_boot < 1:
        raise ValueError(f"n_boot must be a positive integer, got {n_boot}.")


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}.")


def percentile_interval(replicates: ArrayLike, confidence: float = 0.95) -> tuple[float, float]:
    """Percentile interval ``(low, high)`` of bootstrap replicates ``(n_boot,)``.

    NaN replicates (e.g. a statistic undefined on some resamples) are ignored; if all are
    NaN the interval is ``(nan, nan)``.
    """
    _check_confidence(confidence)
    reps = np.asarray(replicates, dtype=float).ravel()
    reps = reps[~np.isnan(reps)]
    if reps.size == 0:
        return math.nan, math.nan
    alpha = 1.0 - confidence
    low, high = np.percentile(reps, [100.0 * alpha / 2.0, 100.0 * (1.0 - alpha / 2.0)])
    return float(low), float(high)


def _as_samples(samples: Sequence[Strata]) -> list[list[np.ndarray]]:
    """Samples as lists of float strata ``(n_i, ...)``, checked non-empty."""
    if len(samples) == 0:
        raise ValueError("samples is empty; pass at least one sample of strata.")
    checked = []
    for i, strata in enumerate(samples):
        arrays = [np.asarray(stratum, dtype=float) for stratum in strata]
        if not arrays:
            raise ValueError(f"sample {i} has no strata; pass at least one array per sample.")
        for j, stratum in enumerate(arrays):
            if stratum.ndim == 0 or len(stratum) == 0:
                raise ValueError(
                    f"stratum {j} of sample {i} is empty (shape {stratum.shape}); "
                    "every stratum needs at least one unit along its first axis."
                )
        checked.append(arrays)
    return checked


def bootstrap_replicates(
    samples: Sequence[Strata],
    statistic: Statistic,
    rng: np.random.Generator,
    n_boot: int = 2000,
    *,
    vectorized: bool = False,
) -> np.ndarray:
    """``(n_boot, ...)`` values of ``statistic`` on stratified resamples of ``samples``.

    Args:
        samples: independent samples, each a sequence of strata ``(n_i, ...)`` (module doc).
        statistic: called with one pooled array per sample, ``(sum n_i, ...)``; with
            ``vectorized`` once, with arrays ``(n_boot, sum n_i, ...)``, returning
            ``(n_boot, ...)``.
        rng: the only source of randomness; same generator state -> same replicates.
        n_boot: number of replicates.
    """
    _check_n_boot(n_boot)
    groups = _as_samples(samples)
    # Indices are drawn sample by sample, stratum by stratum: the order fixes the numbers.
    resampled = [
        np.concatenate([s[rng.integers(0, len(s), size=(n_boot, len(s)))] for s in strata], axis=1)
        for strata in groups
    ]
    if not vectorized:
        return np.asarray([statistic(*(r[b] for r in resampled)) for b in range(n_boot)], float)
    return _per_replicate(statistic(*resampled), n_boot)


def _per_replicate(values: ArrayLike, n_boot: int) -> np.ndarray:
    """A vectorized statistic's output, checked to keep the leading replicate axis."""
    values = np.asarray(values, dtype=float)
    if values.ndim == 0 or values.shape[0] != n_boot:
        raise ValueError(
            f"a vectorized statistic must return one value per replicate, shape ({n_boot}, ...), "
            f"got shape {values.shape}; reduce over axis -1 (or the unit axis), not axis 0."
        )
    return values


def _point(groups: list[list[np.ndarray]], statistic: Statistic, vectorized: bool) -> np.ndarray:
    """The statistic on the observed data (each sample's strata pooled)."""
    pooled = [np.concatenate(strata) for strata in groups]
    if vectorized:
        return _per_replicate(statistic(*(p[None] for p in pooled)), 1)[0]
    return np.asarray(statistic(*pooled), dtype=float)


def bootstrap_each(
    samples: Sequence[Strata],
    statistic: Statistic,
    rng: np.random.Generator,
    n_boot: int = 2000,
    confidence: float = 0.95,
    *,
    vectorized: bool = False,
) -> list[Estimate]:
    """One :class:`Estimate` per component of a statistic returning ``(k,)`` (or a scalar).

    All components share the same resamples, so e.g. a gap and its normalized form, or the
    Taylor & Stone metrics, stay mutually consistent. Arguments as in
    :func:`bootstrap_replicates`; ``confidence`` is the coverage of each two-sided interval.
    """
    _check_n_boot(n_boot)
    _check_confidence(confidence)
    groups = _as_samples(samples)
    point = np.atleast_1d(_point(groups, statistic, vectorized))
    if point.ndim != 1:
        raise ValueError(f"statistic must return a scalar or a (k,) vector, got {point.shape}.")
    replicates = bootstrap_replicates(groups, statistic, rng, n_boot, vectorized=vectorized)
    replicates = replicates.reshape(n_boot, point.size)
    return [
        Estimate(float(value), *percentile_interval(replicates[:, j], confidence))
        for j, value in enumerate(point)
    ]


def bootstrap(
    samples: Sequence[Strata],
    statistic: Statistic,
    rng: np.random.Generator,
    n_boot: int = 2000,
    confidence: float = 0.95,
    *,
    vectorized: bool = False,
) -> Estimate:
    """Point estimate and percentile bootstrap CI of a scalar ``statistic``.

    Example: the IQM of returns with episodes resampled within each run,
    ``bootstrap([[run_a, run_b]], iqm, rng)``; a gap between two independent samples,
    ``bootstrap([[source], [target]], lambda s, t: s.mean() - t.mean(), rng)``.
    Arguments as in :func:`bootstrap_replicates` and :func:`bootstrap_each`.
    """
    estimates = bootstrap_each(samples, statistic, rng, n_boot, confidence, vectorized=vectorized)
    if len(estimates) != 1:
        raise ValueError(
            f"statistic returned {len(estimates)} values; use bootstrap_each for a vector."
        )
    return estimates[0]
