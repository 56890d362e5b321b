"""What the data say about the fit: flat directions of the loss and an uncertainty per value.

Around the fit ``u*`` (unit cube) the residuals are linearized by central differences,
``r(u) ~ r* + J (u - u*)``, so the loss rises by about ``d' G d`` with ``G = J'J / m`` (m
residual entries). An eigen-direction of ``G`` along which moving half of every range raises
the loss by less than a tolerance is *flat*: the data cannot tell its values apart, and every
parameter with a large share in it is reported as not identified instead of fitted. The
tolerance is a fraction of the fitted loss (what noise and model error leave), with a floor
relative to the loss at nominal values for noise-free data.

The uncertainty of an identified value combines two spreads: a one-step (Gauss-Newton)
bootstrap over segments, each a short replay from a recorded state and so the independent
unit of the objective (episodes are too few to resample: the issue's setting is <= 10), and
the final CMA-ES standard deviation, since an unfinished search is uncertain too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sim2real.sysid.objective import Segment

__all__ = ["Analysis", "FLAT_FRACTION", "analyse", "latency_identified", "probe_points"]

STEP = 0.01  # finite-difference step, in units of each range
FLAT_FRACTION = 0.05  # flat: half a range moves the loss by less than 5% of the fitted loss ...
FLAT_FLOOR = 1e-8  # ... or, for a fit without error, 1e-8 of the loss at nominal values
SHARE = 0.3  # a coordinate takes part in a flat direction with |component| above this
BOOTSTRAP_SAMPLES = 500


@dataclass(frozen=True)
class Analysis:
    identified: np.ndarray  # bool per coordinate
    flat_directions: np.ndarray  # (k, n) unit vectors in the unit cube
    flat_rises: np.ndarray  # (k,) loss rise for half a range along each
    tolerance: float
    bootstrap_std: np.ndarray  # per coordinate, unit cube (NaN if not identified)
    std: np.ndarray  # combined with the search spread, unit cube (NaN if not identified)


def probe_points(unit: np.ndarray, step: float = STEP) -> list[np.ndarray]:
    """``u + h e_i`` and ``u - h e_i`` for each coordinate, kept inside the cube."""
    points = []
    for i in range(len(unit)):
        for sign in (1.0, -1.0):
            point = unit.copy()
            point[i] = np.clip(unit[i] + sign * step, 0.0, 1.0)
            points.append(point)
    return points


def jacobian(probes: Sequence[np.ndarray], residuals: Sequence[np.ndarray]) -> np.ndarray:
    """``(steps, dims, n)`` from the residuals at :func:`probe_points` (same order)."""
    columns = []
    for i in range(len(probes) // 2):
        up, down = probes[2 * i], probes[2 * i + 1]
        span = up[i] - down[i]
        columns.append((residuals[2 * i] - residuals[2 * i + 1]) / span)
    return np.stack(columns, axis=-1)


def analyse(
    fit_residuals: np.ndarray,
    probes: Sequence[np.ndarray],
    probe_residuals: Sequence[np.ndarray],
    weight: np.ndarray,
    segments: Sequence[Segment],
    nominal_loss: float,
    spread: np.ndarray,
    rng: np.random.Generator,
) -> Analysis:
    """Flat directions and uncertainties at the fit (see the module docstring)."""
    rows = jacobian(probes, probe_residuals)
    n = rows.shape[-1]
    entries = fit_residuals.shape[0] * max(1.0, float(weight.sum()))
    flat_j = rows.reshape(-1, n)
    curvature = flat_j.T @ flat_j / entries
    eigenvalues, eigenvectors = np.linalg.eigh(curvature)
    fit_loss = float(np.sum(fit_residuals**2) / entries)
    tolerance = max(FLAT_FRACTION * fit_loss, FLAT_FLOOR * nominal_loss)
    rises = 0.25 * np.maximum(eigenvalues, 0.0)
    flat = rises < tolerance
    directions = eigenvectors[:, flat].T
    identified = ~np.any(np.abs(directions) > SHARE, axis=0) if flat.any() else np.ones(n, bool)
    bootstrap = _bootstrap(rows, fit_residuals, segments, identified, rng)
    std = np.sqrt(bootstrap**2 + np.asarray(spread) ** 2)
    return Analysis(identified, directions, rises[flat], tolerance, bootstrap, std)


def _bootstrap(
    rows: np.ndarray,
    residuals: np.ndarray,
    segments: Sequence[Segment],
    identified: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Std of the Gauss-Newton step from the fit over segment resamples (identified only)."""
    n = rows.shape[-1]
    result = np.full(n, np.nan)
    keep = np.flatnonzero(identified)
    if not keep.size:
        return result
    blocks, gradients = [], []
    for segment in segments:
        steps = slice(segment.step, segment.step + segment.length)
        j = rows[steps][..., keep].reshape(-1, keep.size)
        blocks.append(j.T @ j)
        gradients.append(j.T @ residuals[steps].reshape(-1))
    blocks_array, gradients_array = np.array(blocks), np.array(gradients)
    counts = rng.multinomial(
        len(segments), np.full(len(segments), 1 / len(segments)), size=BOOTSTRAP_SAMPLES
    )
    steps_taken = []
    for count in counts:
        a = np.tensordot(count, blocks_array, axes=1)
        g = count @ gradients_array
        ridge = 1e-12 * max(np.trace(a), 1e-300) * np.eye(keep.size)
        steps_taken.append(-np.linalg.solve(a + ridge, g))
    result[keep] = np.std(steps_taken, axis=0)
    return result


def latency_identified(losses: Sequence[float]) -> bool:
    """Whether the best of the whole-step latencies tried beats the runner-up clearly: by more
    than the flat tolerance (a fraction of the best loss)."""
    if len(losses) < 2:
        return False
    best, runner_up = sorted(losses)[:2]
    return runner_up - best > FLAT_FRACTION * best
