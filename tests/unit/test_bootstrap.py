"""Unit tests for sim2real.evaluation.bootstrap against hand-computed answers."""

import math

import numpy as np
import pytest

from sim2real.evaluation.bootstrap import (
    Estimate,
    bootstrap,
    bootstrap_each,
    bootstrap_replicates,
    percentile_interval,
)


def _mean(x: np.ndarray) -> np.ndarray:
    return x.mean(axis=-1)


def test_percentile_interval_hand_computed():
    assert percentile_interval(np.arange(101), confidence=0.9) == pytest.approx((5.0, 95.0))
    assert percentile_interval([np.nan, 2.0, np.nan], 0.95) == (2.0, 2.0)
    assert all(math.isnan(v) for v in percentile_interval([np.nan, np.nan]))


def test_constant_scores_give_a_zero_width_interval():
    estimate = bootstrap([[np.full(7, 3.5)]], np.mean, np.random.default_rng(0), n_boot=200)
    assert estimate == Estimate(3.5, 3.5, 3.5)


def test_strata_are_resampled_within_themselves():
    # Constant strata of sizes 2 and 6: every stratified replicate pools two 0s and six 1s,
    # so the mean is 6/8 exactly. Pooled into one stratum, the count of 1s would vary.
    strata = [np.zeros(2), np.ones(6)]
    stratified = bootstrap_replicates([strata], np.mean, np.random.default_rng(0), 300)
    np.testing.assert_array_equal(stratified, 0.75)
    pooled = bootstrap_replicates([[np.concatenate(strata)]], np.mean, np.random.default_rng(0))
    assert pooled.min() < 0.75 < pooled.max()


def test_each_stratum_keeps_its_size():
    sizes = bootstrap_replicates([[np.ones(3), np.ones(5)]], len, np.random.default_rng(0), 10)
    np.testing.assert_array_equal(sizes, 8)


def test_same_seed_same_result_other_seed_differs():
    samples = [[np.arange(10.0), np.arange(5.0) ** 2]]
    first = bootstrap(samples, np.mean, np.random.default_rng(7), n_boot=300)
    second = bootstrap(samples, np.mean, np.random.default_rng(7), n_boot=300)
    third = bootstrap(samples, np.mean, np.random.default_rng(8), n_boot=300)
    assert first == second
    assert first != third
    assert first.value == pytest.approx((45.0 + 30.0) / 15.0)  # pooled mean, not per stratum


def test_median_of_three_values_hand_computed():
    # Resampling [0, 1, 2]: the median is 0 (or 2) with probability 7/27 each, so a 95%
    # percentile interval spans both ends.
    estimate = bootstrap([[[0.0, 1.0, 2.0]]], np.median, np.random.default_rng(0), 2000)
    assert estimate == Estimate(1.0, 0.0, 2.0)
    medians = bootstrap_replicates([[[0.0, 1.0, 2.0]]], np.median, np.random.default_rng(1), 27000)
    assert np.mean(medians == 0.0) == pytest.approx(7 / 27, abs=0.01)


def test_independent_samples_are_resampled_separately():
    # Two constant samples: the gap of their means is exactly 3 in every replicate.
    samples = [[np.full(3, 5.0)], [np.full(4, 2.0), np.full(2, 2.0)]]
    estimate = bootstrap(samples, lambda a, b: a.mean() - b.mean(), np.random.default_rng(0))
    assert estimate == Estimate(3.0, 3.0, 3.0)


def test_vectorized_statistic_gives_the_same_replicates():
    samples = [[np.arange(6.0), np.array([10.0, 20.0])], [np.arange(4.0)]]

    def gap(a, b):
        return a.mean(axis=-1) - b.mean(axis=-1)

    loop = bootstrap_replicates(samples, gap, np.random.default_rng(3), 500)
    vectorized = bootstrap_replicates(samples, gap, np.random.default_rng(3), 500, vectorized=True)
    np.testing.assert_allclose(vectorized, loop, rtol=0, atol=1e-12)
    point = bootstrap(samples, gap, np.random.default_rng(0), 10, vectorized=True).value
    assert point == pytest.approx(45.0 / 8.0 - 1.5)


def test_whole_units_are_resampled_and_each_component_gets_an_interval():
    # Units are rows (curves): a replicate averages whole rows, so both points of the mean
    # curve move together; rows [0, 0] and [1, 1] give means 0, 0.5 or 1 per replicate.
    curves = np.array([[0.0, 0.0], [1.0, 1.0]])
    replicates = bootstrap_replicates(
        [[curves]], lambda c: c.mean(axis=-2), np.random.default_rng(0), 400, vectorized=True
    )
    assert replicates.shape == (400, 2)
    np.testing.assert_array_equal(replicates[:, 0], replicates[:, 1])
    assert set(np.unique(replicates)) == {0.0, 0.5, 1.0}
    band = bootstrap_each([[curves]], lambda c: c.mean(axis=0), np.random.default_rng(0), 400)
    assert band == [Estimate(0.5, 0.0, 1.0), Estimate(0.5, 0.0, 1.0)]


def test_undefined_replicates_are_left_out_of_the_interval():
    # The ratio is NaN when the resample has no nonzero value; those replicates are skipped.
    def ratio(x):
        return 1.0 if np.any(x) else math.nan

    estimate = bootstrap([[[0.0, 1.0]]], ratio, np.random.default_rng(0), 200)
    assert estimate == Estimate(1.0, 1.0, 1.0)


def test_vectorized_replicates_match_the_hand_computed_mean():
    replicates = bootstrap_replicates(
        [[[2.0, 4.0]]], _mean, np.random.default_rng(0), 1000, vectorized=True
    )
    assert set(np.unique(replicates)) == {2.0, 3.0, 4.0}
    assert np.mean(replicates == 3.0) == pytest.approx(0.5, abs=0.05)


@pytest.mark.parametrize(
    ("samples", "statistic", "kwargs", "message"),
    [
        ([], np.mean, {}, "samples is empty"),
        ([[]], np.mean, {}, "sample 0 has no strata"),
        ([[np.ones(2)], [np.ones(2), np.array([])]], np.mean, {}, "stratum 1 of sample 1"),
        ([[np.ones(3)]], np.mean, {"n_boot": 0}, "n_boot"),
        ([[np.ones(3)]], np.mean, {"confidence": 1.0}, "confidence"),
        ([[np.ones(3)]], lambda x: x[:2], {}, "use bootstrap_each"),
        ([[np.ones(3)]], np.mean, {"vectorized": True}, "one value per replicate"),
    ],
)
def test_bad_input_is_refused(samples, statistic, kwargs, message):
    with pytest.raises(ValueError, match=message):
        bootstrap(samples, statistic, np.random.default_rng(0), **kwargs)
