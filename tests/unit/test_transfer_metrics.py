"""Unit tests for sim2real.evaluation.transfer_metrics against hand-computed answers."""

import math

import numpy as np
import pytest

from sim2real.evaluation.transfer_metrics import (
    Estimate,
    TaylorStoneReport,
    align_curves,
    area_under_curve,
    asymptotic_performance,
    initial_performance,
    jumpstart,
    taylor_stone,
    time_to_threshold,
    transfer_ratio,
)

STEPS = np.array([0.0, 100.0, 200.0, 300.0])
# Seed 0 climbs to 15; seed 1 plateaus at 3.
CURVES = np.array([[0.0, 5.0, 10.0, 15.0], [0.0, 1.0, 2.0, 3.0]])


def test_area_under_piecewise_linear_curve():
    # Segments: (0+10)/2*10 + (10+10)/2*10 + (10+30)/2*20 = 50 + 100 + 400.
    auc = area_under_curve([0.0, 10.0, 10.0, 30.0], [0.0, 10.0, 20.0, 40.0])
    np.testing.assert_allclose(auc, [550.0])
    # Straight lines from 0: area = last value * 300 / 2.
    np.testing.assert_allclose(area_under_curve(CURVES, STEPS), [2250.0, 450.0])


def test_initial_performance_and_jumpstart():
    np.testing.assert_array_equal(initial_performance(CURVES), [0.0, 0.0])
    transfer = [[5.0, 9.0], [7.0, 9.0]]
    scratch = [[1.0, 2.0], [3.0, 8.0]]
    assert jumpstart(transfer, scratch) == pytest.approx(6.0 - 2.0)


def test_asymptotic_performance_default_and_k():
    curve = np.arange(20.0)
    np.testing.assert_allclose(asymptotic_performance(curve), [18.5])  # last 10% = 2 points
    np.testing.assert_allclose(asymptotic_performance(curve, k=5), [17.0])
    np.testing.assert_allclose(asymptotic_performance(CURVES), [15.0, 3.0])  # at least 1 point


def test_time_to_threshold_including_never_reached():
    ttt = time_to_threshold(CURVES, STEPS, threshold=10.0)
    assert ttt[0] == 200.0  # reaching exactly the threshold counts
    assert math.isnan(ttt[1])
    np.testing.assert_array_equal(time_to_threshold(CURVES, STEPS, threshold=-1.0), [0.0, 0.0])


def test_transfer_ratio_hand_computed():
    steps = [0.0, 10.0]
    assert transfer_ratio([[1.5, 1.5]], [[1.0, 1.0]], steps) == pytest.approx(0.5)  # (15-10)/10
    # Negative returns: divided by |AUC_scratch|, so improvement stays positive.
    assert transfer_ratio([[-5.0, -5.0]], [[-10.0, -10.0]], steps) == pytest.approx(0.5)
    assert math.isnan(transfer_ratio([[1.0, 1.0]], [[0.0, 0.0]], steps))


def test_align_curves_onto_overlap():
    grid, curves = align_curves(
        [[0.0, 10.0, 20.0], [2.0, 12.0, 22.0]], [[0.0, 10.0, 20.0], [0.0, 10.0, 20.0]]
    )
    np.testing.assert_allclose(grid, [2.0, 11.0, 20.0])  # overlap [2, 20], 3 points
    np.testing.assert_allclose(curves, [[2.0, 11.0, 20.0], [0.0, 9.0, 18.0]])
    grid, curves = align_curves([[0.0, 10.0]], [[0.0, 1.0]], grid=[0.0, 5.0, 10.0])
    np.testing.assert_allclose(curves, [[0.0, 0.5, 1.0]])


@pytest.mark.parametrize(
    ("steps", "values", "kwargs", "message"),
    [
        ([[0.0, 10.0]], [[0.0, 1.0]], {"grid": [0.0, 20.0]}, "extrapolate"),
        ([[0.0, 10.0], [20.0, 30.0]], [[0, 1], [0, 1]], {}, "share no step range"),
        ([[0.0, 10.0]], [[0.0, 1.0], [0.0, 1.0]], {}, "1 timestep arrays but 2"),
        ([[0.0, 10.0]], [[0.0, 1.0, 2.0]], {}, "matching 1-D"),
        ([[10.0, 0.0]], [[0.0, 1.0]], {}, "strictly increasing"),
        ([], [], {}, "no runs"),
    ],
)
def test_align_curves_rejects_bad_input(steps, values, kwargs, message):
    with pytest.raises(ValueError, match=message):
        align_curves(steps, values, **kwargs)


def _learning_curves(rng, n_seeds, offset):
    steps = np.linspace(0.0, 1000.0, 21)
    base = offset + 100.0 * (1.0 - np.exp(-steps / 300.0))
    return steps, base + rng.normal(0.0, 2.0, size=(n_seeds, steps.size))


def test_taylor_stone_matches_individual_metrics():
    rng = np.random.default_rng(0)
    steps, transfer = _learning_curves(rng, 5, offset=20.0)
    _, scratch = _learning_curves(rng, 4, offset=0.0)
    report = taylor_stone(transfer, scratch, steps, rng=np.random.default_rng(1), n_boot=500)
    assert isinstance(report, TaylorStoneReport)
    assert report.jumpstart.value == pytest.approx(jumpstart(transfer, scratch))
    assert report.transfer_ratio.value == pytest.approx(transfer_ratio(transfer, scratch, steps))
    assert report.auc_scratch.value == pytest.approx(area_under_curve(scratch, steps).mean())
    asymptote = asymptotic_performance(scratch).mean()
    assert report.threshold == pytest.approx(0.9 * asymptote)
    assert report.asymptotic_gain.value == pytest.approx(
        asymptotic_performance(transfer).mean() - asymptote
    )
    expected_ttt = time_to_threshold(transfer, steps, report.threshold)
    assert report.time_to_threshold_transfer.value == pytest.approx(np.nanmean(expected_ttt))
    assert (report.n_transfer, report.n_scratch) == (5, 4)
    for name in ("jumpstart", "auc_transfer", "transfer_ratio", "asymptotic_scratch"):
        est = getattr(report, name)
        assert isinstance(est, Estimate)
        assert est.ci_low <= est.value <= est.ci_high, name
    assert report.as_dict()["jumpstart"]["value"] == report.jumpstart.value


def test_taylor_stone_is_deterministic_for_a_seed():
    steps, transfer = _learning_curves(np.random.default_rng(0), 4, offset=10.0)
    _, scratch = _learning_curves(np.random.default_rng(1), 4, offset=0.0)
    a = taylor_stone(transfer, scratch, steps, rng=np.random.default_rng(5), n_boot=200)
    b = taylor_stone(transfer, scratch, steps, rng=np.random.default_rng(5), n_boot=200)
    assert a.as_dict() == b.as_dict()


def test_taylor_stone_never_reached_and_identical_seeds():
    transfer = np.tile([10.0, 12.0, 14.0, 16.0], (3, 1))  # identical seeds: zero-width CIs
    scratch = np.tile([0.0, 1.0, 2.0, 3.0], (2, 1))
    report = taylor_stone(transfer, scratch, STEPS, threshold=12.0, rng=np.random.default_rng(0))
    assert report.jumpstart == Estimate(10.0, 10.0, 10.0)
    assert report.time_to_threshold_transfer == Estimate(100.0, 100.0, 100.0)
    assert math.isnan(report.time_to_threshold_scratch.value)
    assert (report.reached_fraction_transfer, report.reached_fraction_scratch) == (1.0, 0.0)


def test_taylor_stone_docstring_states_sample_accounting():
    assert "Source-training samples are NOT counted" in taylor_stone.__doc__


@pytest.mark.parametrize(
    ("transfer", "scratch", "steps", "kwargs", "message"),
    [
        (np.empty((0, 4)), CURVES, STEPS, {}, "non-empty"),
        (CURVES, CURVES, STEPS[:3], {}, "4 points per seed but timesteps has 3"),
        (CURVES, CURVES[:, :3], STEPS, {}, "scratch_curves has 3 points"),
        (CURVES, CURVES, STEPS[::-1], {}, "strictly increasing"),
        (CURVES, -CURVES, STEPS, {}, "pass threshold explicitly"),
        (CURVES, CURVES, STEPS, {"k": 5}, "k must be an integer"),
        (CURVES, CURVES, STEPS, {"n_boot": 0}, "n_boot"),
        (CURVES * np.nan, CURVES, STEPS, {}, "NaN"),
    ],
)
def test_taylor_stone_rejects_bad_input(transfer, scratch, steps, kwargs, message):
    with pytest.raises(ValueError, match=message):
        taylor_stone(transfer, scratch, steps, rng=np.random.default_rng(0), **kwargs)


def test_jumpstart_rejects_mismatched_points():
    with pytest.raises(ValueError, match="same timesteps"):
        jumpstart(CURVES, CURVES[:, :2])
