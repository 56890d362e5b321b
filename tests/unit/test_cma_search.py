"""The CMA-ES search of identify, on losses with a known answer (no simulator)."""

from __future__ import annotations

import numpy as np

from sim2real.sysid.search import cma_search


def _batch(loss):
    return lambda points: [float(loss(np.asarray(p))) for p in points]


def _double_well(x: np.ndarray) -> float:
    # A wide basin around the start (floor 0.05) and a narrow exact one at x0 = 0.95.
    wide = (x[0] - 0.45) ** 2 + 0.05
    narrow = 50.0 * (x[0] - 0.95) ** 2
    return min(wide, narrow) + (x[1] - 0.5) ** 2


def test_a_stalled_search_restarts_and_finds_the_exact_minimum():
    result = cma_search(_batch(_double_well), 2, 4000, seed=0)
    assert "restart" in result.stop
    assert result.loss < 1e-8
    np.testing.assert_allclose(result.unit, [0.95, 0.5], atol=1e-3)
    assert result.evaluations <= 4000


def test_a_search_still_converging_to_an_exact_fit_does_not_restart():
    result = cma_search(_batch(lambda x: float(np.sum((x - [0.3, 0.7, 0.6]) ** 2))), 3, 400, 0)
    assert "restart" not in result.stop
    np.testing.assert_allclose(result.unit, [0.3, 0.7, 0.6], atol=1e-3)
