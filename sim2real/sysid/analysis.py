"""What the data say about the fit: flat directions of the loss and an uncertainty per value.

Directions physics says may be flat are checked first: for a torque-driven robot, scaling every
mass, motor strength and damping by one factor leaves the motion exactly unchanged
(:meth:`~sim2real.sysid.space.SearchSpace.scale_directions`). Then the loss is probed directly,
never linearized or fitted by a quadratic: contacts make a legged robot's loss rough at small
scales, and the stiff directions would drown the flat ones. The curvature along a unit direction
``v`` (unit cube) is the second difference ``c(v) = (L(u + t v) + L(u - t v) - 2 L(u)) / (2 t^2)``
with ``t`` = 10% of the ranges, around the fit itself. Beyond a bound of the ranges the loss is
read mirrored at that bound, ``L(-x)`` for ``x < 0``: a value fitted at its bound (a target at the
edge of the spec) is probed on the inside only, where a minimum at the bound curves the same way,
and a value pushed against its bound reads as sharply curved (it is pinned there). Probing from a
point moved inside instead measures the loss away from its minimum, where the second differences of
a contact-rich loss say nothing. Second differences along every axis and every pair of axes give a
curvature matrix; from its least curved eigenvector, CMA-ES over directions refines the flattest
direction; while it is *flat*, i.e. moving half of every range along it raises the loss by less
than a tolerance, it is recorded and the next one is searched for orthogonal to those found. Every
parameter with a large share in a flat direction is reported as not identified instead of fitted.
The tolerance is a fraction of the fitted loss (what noise and model error leave), with a floor
relative to the typical loss in the spec's ranges (the median of the search's first generation):
without noise the fitted loss can be near zero, and how precisely a direction of least curvature
can be found is limited by the stiffest one.

The uncertainty of an identified value combines a Laplace approximation along its own axis
(the residual variance ``L*`` over that curvature, with one independent error per segment and
state dimension, since a segment's errors are correlated in time) and the final CMA-ES
standard deviation, since an unfinished search is uncertain too; it is never more than the
standard deviation of a value uniform over its whole range.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["FLAT_FRACTION", "Analysis", "analyse", "analysis_cost", "latency_identified"]

PROBE = 0.1  # probe distance, in units of the ranges
FLAT_FRACTION = 0.05  # flat: half a range moves the loss by less than 5% of the fitted loss ...
FLAT_FLOOR = 1e-4  # ... or than 0.01% of the typical loss in the ranges (fits without error)
SHARE = 0.15  # a coordinate takes part in a flat direction with |component| above this
UNIFORM_STD = 1 / np.sqrt(12)  # std of a value uniform over its range (unit cube)
DIRECTION_EVALS = 10  # curvature evaluations per dimension for each flattest-direction search

Losses = Callable[[list[np.ndarray]], list[float]]


@dataclass(frozen=True)
class Analysis:
    identified: np.ndarray  # bool per coordinate
    flat_directions: np.ndarray  # (k, n) unit vectors in the unit cube
    flat_rises: np.ndarray  # (k,) loss rise for half a range along each
    tolerance: float
    laplace_std: np.ndarray  # per coordinate, unit cube (NaN if not identified)
    std: np.ndarray  # combined with the search spread, unit cube (NaN if not identified)
    evaluations: int  # loss evaluations the analysis made


def analyse(
    losses: Losses,
    unit: np.ndarray,
    fit_loss: float,
    typical_loss: float,
    symmetries: Callable[[np.ndarray], Sequence[np.ndarray]],
    spread: np.ndarray,
    entries: float,
    seed: int,
) -> Analysis:
    """Flat directions and uncertainties at the fit ``unit`` (see the module docstring).

    ``losses`` evaluates unit-cube points; ``symmetries`` gives, for a point, directions
    physics says may be flat there, checked first; ``typical_loss`` is the median loss in the
    ranges; ``entries`` the number of independent errors (segments x changing dimensions).
    """
    centre = np.asarray(unit, dtype=np.float64)
    probe = _Curvature(_mirrored(losses), centre)
    n = len(unit)
    tolerance = max(FLAT_FRACTION * fit_loss, FLAT_FLOOR * typical_loss)
    flat: list[np.ndarray] = []
    rises: list[float] = []
    for symmetry in symmetries(centre):
        direction = _orthogonal(symmetry, np.array(flat).reshape(-1, n))
        if direction is not None:
            (curvature,) = np.abs(probe([direction]))
            if 0.25 * curvature < tolerance:
                flat.append(direction)
                rises.append(0.25 * curvature)
    axes = probe(list(np.eye(n)))
    matrix = _curvature_matrix(probe, axes)
    while len(flat) < n:
        found = np.array(flat).reshape(-1, n)
        direction, curvature = _flattest(probe, _least_curved(matrix, found), found, seed)
        if 0.25 * curvature >= tolerance:
            break
        flat.append(direction)
        rises.append(0.25 * curvature)
    flat_directions = np.array(flat).reshape(-1, n)
    identified = ~np.any(np.abs(flat_directions) > SHARE, axis=0)
    # A curvature that is not positive (a fit at a bound, or an unfinished search) says
    # nothing; no value is more uncertain than uniform over its whole range.
    curved = np.sqrt(fit_loss / max(entries, 1.0) / np.maximum(axes, 1e-12))
    laplace = np.where(identified, np.minimum(curved, UNIFORM_STD), np.nan)
    std = np.minimum(np.sqrt(laplace**2 + np.asarray(spread) ** 2), UNIFORM_STD)
    return Analysis(
        identified, flat_directions, np.array(rises), tolerance, laplace, std, probe.evaluations
    )


def analysis_cost(size: int) -> tuple[int, int]:
    """Loss evaluations :func:`analyse` spends on ``size`` values: at least (the centre and the
    curvature along every axis and pair of axes), and about this many more per flat direction
    (CMA-ES finishes its last generation)."""
    return 1 + size * (size + 1), 2 * DIRECTION_EVALS * size


def latency_identified(losses: Sequence[float]) -> bool:
    """Whether the best of the whole-step latencies tried beats the runner-up clearly: by more
    than the flat tolerance (a fraction of the best loss)."""
    if len(losses) < 2:
        return False
    best, runner_up = sorted(losses)[:2]
    return runner_up - best > FLAT_FRACTION * best


def _mirrored(losses: Losses) -> Losses:
    """``losses`` extended beyond the unit cube by mirroring at its faces (probes reach at
    most ``PROBE`` outside)."""

    def mirrored(points: list[np.ndarray]) -> list[float]:
        return losses([1.0 - np.abs(1.0 - np.abs(point)) for point in points])

    return mirrored


def _orthogonal(direction: np.ndarray, found: np.ndarray) -> np.ndarray | None:
    """``direction`` without its components along ``found`` (rows), normalized; None if none
    is left."""
    rest = direction - found.T @ (found @ direction) if len(found) else direction
    norm = float(np.linalg.norm(rest))
    return rest / norm if norm > 1e-6 else None


class _Curvature:
    """Second differences of the loss around a centre, in batches of directions."""

    def __init__(self, losses: Losses, centre: np.ndarray):
        self._losses = losses
        self._centre = centre
        (self._at_centre,) = losses([centre])
        self.evaluations = 1

    def __call__(self, directions: list[np.ndarray]) -> np.ndarray:
        points = []
        for direction in directions:
            points += [self._centre + PROBE * direction, self._centre - PROBE * direction]
        values = np.asarray(self._losses(points)).reshape(-1, 2)
        self.evaluations += len(points)
        # Negative where the centre is not a minimum along a direction (an unfinished search):
        # that is not flatness, so flatness is judged on the magnitude.
        return (values.sum(axis=1) - 2 * self._at_centre) / (2 * PROBE**2)


def _curvature_matrix(probe: _Curvature, axes: np.ndarray) -> np.ndarray:
    """``H`` by polarization: ``c(e_i + e_j) = H_ii + H_jj + 2 H_ij`` for every pair."""
    n = len(axes)
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    sums = probe([(np.eye(n)[i] + np.eye(n)[j]) / np.sqrt(2) for i, j in pairs]) if pairs else []
    matrix = np.diag(axes)
    for (i, j), value in zip(pairs, sums, strict=True):
        matrix[i, j] = matrix[j, i] = value - (axes[i] + axes[j]) / 2
    return matrix


def _least_curved(matrix: np.ndarray, found: np.ndarray) -> np.ndarray:
    """The eigenvector of ``matrix`` with the eigenvalue nearest zero, orthogonal to ``found``."""
    n = len(matrix)
    basis = np.eye(n) - found.T @ found if len(found) else np.eye(n)
    values, vectors = np.linalg.eigh(basis @ matrix @ basis + (np.eye(n) - basis) * 1e300)
    return vectors[:, int(np.argmin(np.abs(values)))]


def _flattest(
    probe: _Curvature, start: np.ndarray, found: np.ndarray, seed: int
) -> tuple[np.ndarray, float]:
    """The unit direction of least curvature orthogonal to ``found`` (rows), and its curvature,
    refined by CMA-ES from ``start``."""
    import cma

    n = len(start)

    def unit_direction(x: np.ndarray) -> np.ndarray:
        direction = _orthogonal(np.asarray(x[:n], dtype=np.float64), found)
        return np.eye(n)[0] if direction is None else direction

    x0 = unit_direction(start)
    if n == 1:
        return x0, float(abs(probe([x0])[0]))
    options = {"seed": seed + 1, "verbose": -9, "maxfevals": DIRECTION_EVALS * n}
    strategy = cma.CMAEvolutionStrategy(x0, 0.05, options)
    best, best_curvature = x0, np.inf
    while not strategy.stop():
        candidates = strategy.ask()
        curvatures = np.abs(probe([unit_direction(c) for c in candidates]))
        strategy.tell(candidates, curvatures.tolist())
        index = int(np.argmin(curvatures))
        if curvatures[index] < best_curvature:
            best, best_curvature = unit_direction(candidates[index]), float(curvatures[index])
    return best, best_curvature
