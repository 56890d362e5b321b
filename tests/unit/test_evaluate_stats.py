"""Evaluator statistics on hand-made returns: stratified bootstrap, gaps, settings."""

import numpy as np
import pytest

from sim2real.commands.evaluate import parse_oracles
from sim2real.errors import UserError
from sim2real.evaluation.evaluate import EvaluationSettings, bootstrap_means, difference


def test_bootstrap_keeps_each_run_weight():
    # Within-run resampling cannot change how many episodes come from each run: with constant
    # returns inside each run every replicate has the same pooled mean (0*2 + 10*8) / 10.
    by_run = {"a": np.zeros(2), "b": np.full(8, 10.0)}
    means = bootstrap_means(by_run, np.random.default_rng(0), 500)
    assert means.shape == (500,)
    np.testing.assert_allclose(means, 8.0)


def test_bootstrap_means_center_on_pooled_mean():
    rng = np.random.default_rng(1)
    by_run = {"a": rng.normal(5, 1, 50), "b": rng.normal(7, 1, 50)}
    means = bootstrap_means(by_run, np.random.default_rng(2), 4000)
    pooled = np.concatenate(list(by_run.values())).mean()
    assert means.mean() == pytest.approx(pooled, abs=0.02)
    # Standard error of the stratified mean: sqrt(sum var_i / n_i) / 2 for two equal strata.
    expected_se = np.sqrt(sum(v.var() / v.size for v in by_run.values())) / 2
    assert means.std() == pytest.approx(expected_se, rel=0.1)


def test_difference_point_and_interval():
    source = {"r0": np.array([100.0, 100.0]), "r1": np.array([80.0, 80.0])}
    target = {"r0": np.array([40.0, 60.0]), "r1": np.array([50.0, 50.0])}
    settings = EvaluationSettings(n_boot=1000)
    gap, normalized = difference(source, target, np.random.default_rng(0), settings)
    assert gap.value == pytest.approx(90.0 - 50.0)
    assert normalized.value == pytest.approx(40.0 / 90.0)
    # Only r0's target episodes vary: the pooled target mean lies in [45, 55].
    assert 35.0 <= gap.ci_low <= gap.value <= gap.ci_high <= 45.0
    assert normalized.ci_low <= normalized.value <= normalized.ci_high


def test_difference_is_reproducible_for_a_seed():
    source = {"r": np.arange(10.0)}
    target = {"r": np.arange(10.0) / 2}
    settings = EvaluationSettings(n_boot=200)
    first = difference(source, target, np.random.default_rng(3), settings)
    second = difference(source, target, np.random.default_rng(3), settings)
    assert first == second


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"episodes": 0}, "--episodes = 0"),
        ({"seeds": ()}, "--seeds"),
        ({"seeds": (1, 1)}, "distinct"),
        ({"seeds": (-1,)}, "--seeds"),
        ({"workers": 0}, "--workers = 0"),
        ({"n_boot": 0}, "--n-boot = 0"),
    ],
)
def test_settings_reject_bad_values(kwargs, message):
    with pytest.raises(UserError, match=message):
        EvaluationSettings(**kwargs)


def test_parse_oracles():
    assert parse_oracles(["heavy=runs/a", "laggy=runs/b=c"]) == {
        "heavy": "runs/a",
        "laggy": "runs/b=c",
    }
    with pytest.raises(UserError, match="expected TARGET=RUN"):
        parse_oracles(["heavy"])
    with pytest.raises(UserError, match="already has an oracle"):
        parse_oracles(["heavy=a", "heavy=b"])


@pytest.mark.parametrize(
    ("meta", "expected"),
    [
        ({"strategy": None}, {}),  # trained in simulation: no target samples
        (
            {"transfer": {"target": "heavy", "target_samples": 20480, "budget": 20000}},
            {"heavy": 20480},
        ),
        ({"transfer": {"target": "heavy", "budget": 512}}, {"heavy": 512}),  # older runs
        ({"transfer": {"target": "heavy"}}, None),
    ],
)
def test_target_samples_come_from_the_transfer_block(tmp_path, meta, expected):
    import json

    from sim2real.evaluation.evaluate import run_target_samples

    (tmp_path / "run.json").write_text(json.dumps(meta))
    assert run_target_samples(tmp_path) == expected
