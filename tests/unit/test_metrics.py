"""Unit tests for sim2real.evaluation.metrics against hand-computed answers."""

import math

import numpy as np
import pytest
from rliable import metrics as rly

from sim2real.evaluation.metrics import (
    ReturnSummary,
    fraction_gap_closed,
    iqm,
    probability_of_improvement,
    regret,
    stratified_bootstrap_ci,
    summarize_returns,
    transfer_gap,
)

# --- IQM -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scores", "expected"),
    [
        (np.arange(1, 9), 4.5),  # drop {1,2} and {7,8}: mean(3,4,5,6)
        (np.arange(1, 11), 5.5),  # floor(2.5)=2 cut per side: mean(3..8)
        ([1, 2, 3, 4, 5, 6, 7, 1000], 4.5),  # the outlier is trimmed away
        ([[1, 2], [3, 4], [5, 6], [7, 8]], 4.5),  # any shape is pooled
        ([3.0], 3.0),
    ],
)
def test_iqm_hand_computed(scores, expected):
    assert iqm(scores) == pytest.approx(expected)


def test_iqm_matches_rliable():
    scores = np.random.default_rng(3).normal(size=(7, 5))
    assert iqm(scores) == pytest.approx(float(rly.aggregate_iqm(scores)))


@pytest.mark.parametrize("bad", [[], [1.0, np.nan], [np.inf]])
def test_iqm_rejects_bad_input(bad):
    with pytest.raises(ValueError, match="empty|NaN"):
        iqm(bad)


# --- bootstrap -------------------------------------------------------------------------------


def test_bootstrap_is_deterministic_for_a_seed():
    scores = {"a": np.arange(10.0), "b": np.arange(5.0) ** 2}
    ci1 = stratified_bootstrap_ci(scores, iqm, np.random.default_rng(7), n_boot=300)
    ci2 = stratified_bootstrap_ci(scores, iqm, np.random.default_rng(7), n_boot=300)
    ci3 = stratified_bootstrap_ci(scores, iqm, np.random.default_rng(8), n_boot=300)
    assert ci1 == ci2
    assert ci1 != ci3


def test_bootstrap_resamples_within_strata():
    # Each stratum is constant, so stratified replicates all have mean 6/8; pooled
    # resampling would vary with how many 0s and 1s are drawn.
    scores = [np.zeros(2), np.ones(6)]
    low, high = stratified_bootstrap_ci(scores, np.mean, np.random.default_rng(0), n_boot=500)
    assert low == pytest.approx(0.75)
    assert high == pytest.approx(0.75)


def test_bootstrap_accepts_rliable_matrix_layout():
    # (n_runs, n_strata): column 0 constant 0, column 1 constant 2 -> mean always 1.
    matrix = np.column_stack([np.zeros(4), np.full(4, 2.0)])
    assert stratified_bootstrap_ci(matrix, np.mean, np.random.default_rng(0), 100) == (1.0, 1.0)


def test_bootstrap_ci_of_mean_covers_true_mean():
    rng = np.random.default_rng(12345)
    true_mean, repeats = 5.0, 200
    covered = 0
    for _ in range(repeats):
        sample = rng.normal(true_mean, 2.0, size=40)
        low, high = stratified_bootstrap_ci([sample], np.mean, rng, n_boot=1000)
        covered += low <= true_mean <= high
    assert 0.90 <= covered / repeats <= 0.99


@pytest.mark.parametrize(
    ("scores", "kwargs", "message"),
    [
        ([], {}, "empty"),
        ([np.array([1.0, 2.0]), np.array([])], {}, "stratum 1 is empty"),
        (np.array([1.0, 2.0]).reshape(1, 1, 2), {}, "1-D"),
        ([np.ones((2, 2))], {}, "1-D"),
        ([np.ones(3)], {"confidence": 1.5}, "confidence"),
        ([np.ones(3)], {"n_boot": 0}, "n_boot"),
    ],
)
def test_bootstrap_rejects_bad_input(scores, kwargs, message):
    with pytest.raises(ValueError, match=message):
        stratified_bootstrap_ci(scores, np.mean, np.random.default_rng(0), **kwargs)


# --- summarize_returns -----------------------------------------------------------------------


def test_summarize_returns_hand_computed():
    summary = summarize_returns(np.arange(1.0, 9.0), np.random.default_rng(0), n_boot=500)
    assert isinstance(summary, ReturnSummary)
    assert (summary.mean, summary.iqm, summary.n) == (4.5, 4.5, 8)
    assert summary.ci_low <= summary.iqm <= summary.ci_high
    with pytest.raises(AttributeError):
        summary.mean = 0.0  # frozen


def test_summarize_returns_layouts_and_constant_ci():
    ragged = summarize_returns([[2.0, 2.0], [2.0, 2.0, 2.0]], np.random.default_rng(0), 100)
    assert (ragged.ci_low, ragged.ci_high, ragged.n) == (2.0, 2.0, 5)
    matrix = summarize_returns(np.ones((3, 4)), np.random.default_rng(0), 100, ci_statistic="mean")
    assert (matrix.n, matrix.ci_statistic) == (12, "mean")
    # A list of equal-length arrays is one stratum per array, not a (n_runs, n_strata) matrix:
    # stratified resampling keeps the mean of [0, 0, 0] + [1, 1, 1] at exactly 0.5.
    listed = summarize_returns(
        [np.zeros(3), np.ones(3)], np.random.default_rng(0), 200, 0.95, "mean"
    )
    assert (listed.ci_low, listed.ci_high) == (0.5, 0.5)


def test_summarize_returns_rejects_unknown_statistic():
    with pytest.raises(ValueError, match="ci_statistic must be one of"):
        summarize_returns([1.0, 2.0], np.random.default_rng(0), ci_statistic="median")


# --- gap, regret, fraction closed ------------------------------------------------------------


def test_transfer_gap_hand_computed():
    assert transfer_gap(100.0, 80.0) == pytest.approx((20.0, 0.2))
    gap = transfer_gap(-100.0, -120.0)  # normalized by |J_S|, so the sign still means a loss
    assert (gap.absolute, gap.normalized) == pytest.approx((20.0, 0.2))
    absolute, normalized = transfer_gap(0.0, -5.0)
    assert absolute == 5.0
    assert math.isnan(normalized)


def test_regret_and_fraction_gap_closed():
    assert regret(100.0, 70.0) == 30.0
    assert fraction_gap_closed(50.0, 80.0, 110.0) == pytest.approx(0.5)
    assert fraction_gap_closed(50.0, 40.0, 110.0) == pytest.approx(-1 / 6)
    assert math.isnan(fraction_gap_closed(50.0, 60.0, 50.0))


def test_scalar_metrics_reject_nan():
    with pytest.raises(ValueError, match="j_target must be finite"):
        transfer_gap(1.0, float("nan"))
    with pytest.raises(ValueError, match="j_oracle must be finite"):
        fraction_gap_closed(1.0, 2.0, float("inf"))


# --- probability of improvement --------------------------------------------------------------


@pytest.mark.parametrize(
    ("x", "y", "expected"),
    [
        ([3, 4], [1, 2], 1.0),
        ([1, 2], [3, 4], 0.0),
        ([1, 2, 3], [2, 2], 0.5),  # (0 + 0 + .5 + .5 + 1 + 1) / 6
        ([5, 5], [5, 5, 5], 0.5),  # all ties
        ([1, 4, 6], [2, 5], 3.0 / 6.0),
    ],
)
def test_probability_of_improvement_hand_computed(x, y, expected):
    assert probability_of_improvement(x, y) == pytest.approx(expected)


def test_probability_of_improvement_brute_force_and_complement():
    rng = np.random.default_rng(1)
    x, y = rng.integers(0, 5, size=13), rng.integers(0, 5, size=9)  # many ties
    brute = np.mean((x[:, None] > y[None, :]) + 0.5 * (x[:, None] == y[None, :]))
    assert probability_of_improvement(x, y) == pytest.approx(brute)
    assert probability_of_improvement(x, y) + probability_of_improvement(y, x) == pytest.approx(1)


def test_probability_of_improvement_rejects_empty():
    with pytest.raises(ValueError, match="y is empty"):
        probability_of_improvement([1.0], [])
