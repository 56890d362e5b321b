"""The number a study optimizes, on hand-computed returns."""

from __future__ import annotations

import numpy as np
import pytest

from sim2real.study.metrics import study_metric

RETURNS = {
    "nominal": np.array([10.0, 12.0]),  # mean 11
    "dr": np.array([9.0]),
    "heavy": np.array([1.0, 2.0, 3.0, 100.0]),  # mean 26.5
    "slippery": np.array([4.0, 6.0]),  # mean 5
}


def test_metrics_on_hand_computed_returns():
    targets = ["heavy", "slippery"]
    # Pooled target returns 1, 2, 3, 4, 6, 100: the middle half (25% trimmed) is 2, 3, 4, 6.
    assert study_metric("iqm_targets", RETURNS, targets) == pytest.approx(3.75)
    assert study_metric("worst_target", RETURNS, targets) == pytest.approx(5.0)
    # Gaps 11 - 26.5 = -15.5 and 11 - 5 = 6: mean -4.75.
    assert study_metric("mean_gap", RETURNS, targets) == pytest.approx(-4.75)
    assert study_metric("nominal", RETURNS, []) == pytest.approx(11.0)


def test_target_metrics_need_targets():
    with pytest.raises(ValueError, match="needs targets"):
        study_metric("worst_target", RETURNS, [])
