"""The analysis of a fit (flat directions, identified values) on losses with a known answer."""

from __future__ import annotations

import numpy as np

from sim2real.sysid.analysis import analyse


def _batch(loss):
    return lambda points: [float(loss(np.asarray(p))) for p in points]


def _no_symmetries(point: np.ndarray) -> list[np.ndarray]:
    return []


def test_values_fitted_at_their_bounds_are_probed_there_and_identified():
    # The minimum is at the cube's corner (1, 0), kinked like a contact-rich loss. Probed from
    # a point moved inside the bounds, both values read as flat: a linear slope has no second
    # difference there.
    def loss(x: np.ndarray) -> float:
        return abs(x[0] - 1.0) + 0.1 * abs(x[1])

    fit = np.array([1.0, 0.0])
    result = analyse(_batch(loss), fit, 0.0, 0.5, _no_symmetries, np.zeros(2), 100, seed=0)
    assert result.identified.tolist() == [True, True] and len(result.flat_directions) == 0


def test_a_value_the_loss_ignores_is_flat_and_the_others_have_their_laplace_uncertainty():
    curvature = np.array([4.0, 9.0, 0.0])
    fit = np.array([0.3, 1.0, 0.6])  # the second at its bound: mirrored, the same quadratic

    def loss(x: np.ndarray) -> float:
        return float(np.sum(curvature * (x - fit) ** 2))

    fit_loss, entries = 0.01, 25
    result = analyse(_batch(loss), fit, fit_loss, 1.0, _no_symmetries, np.zeros(3), entries, 0)
    assert result.identified.tolist() == [True, True, False]
    np.testing.assert_allclose(np.abs(result.flat_directions), [[0.0, 0.0, 1.0]], atol=0.01)
    # Second differences of c (x - u)^2 give c: std = sqrt(L* / entries / c).
    np.testing.assert_allclose(
        result.laplace_std[:2], np.sqrt(fit_loss / entries / curvature[:2]), rtol=1e-6
    )
