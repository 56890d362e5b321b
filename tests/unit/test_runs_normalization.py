"""Normalization statistics as plain arrays: round trip, inference arithmetic, bad files."""

import numpy as np
import pytest

from sim2real.errors import UserError
from sim2real.policies.normalization import Normalization, load_normalization, save_normalization


def stats(norm_obs=True):
    return Normalization(
        norm_obs=norm_obs,
        norm_reward=True,
        obs_mean=np.array([1.0, -2.0, 0.5]) if norm_obs else np.zeros(0),
        obs_var=np.array([4.0, 0.25, 1e-12]) if norm_obs else np.zeros(0),
        obs_count=1234.0,
        ret_mean=0.3,
        ret_var=9.0,
        ret_count=99.0,
        clip_obs=5.0,
        clip_reward=10.0,
        gamma=0.98,
        epsilon=1e-8,
    )


def assert_equal(a, b):
    for name in Normalization.__dataclass_fields__:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


@pytest.mark.parametrize("norm_obs", [True, False])
def test_round_trip(tmp_path, norm_obs):
    path = save_normalization(stats(norm_obs), tmp_path / "normalization.npz")
    assert path.name == "normalization.npz"  # numpy must not append another suffix
    assert_equal(load_normalization(path), stats(norm_obs))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["normalization.npz"]


def test_normalize_obs_by_hand():
    obs = np.array([[3.0, -2.5, 10.0], [1.0, -2.0, 0.5]])
    out = stats().normalize_obs(obs)
    # (x - mean) / sqrt(var + eps): (3-1)/2 = 1, (-2.5+2)/0.5 = -1, huge -> clipped to 5.
    np.testing.assert_allclose(out[0], [1.0, -1.0, 5.0], rtol=1e-6)
    np.testing.assert_allclose(out[1], [0.0, 0.0, 0.0], atol=1e-6)
    assert out.dtype == np.float32


def test_without_obs_normalization_obs_pass_through():
    obs = np.array([100.0, -7.0])
    np.testing.assert_array_equal(stats(norm_obs=False).normalize_obs(obs), obs)


def test_missing_file(tmp_path):
    with pytest.raises(UserError, match="not found"):
        load_normalization(tmp_path / "nope.npz")


def test_missing_fields_are_named(tmp_path):
    np.savez(tmp_path / "partial.npz", obs_mean=np.zeros(3))
    with pytest.raises(UserError, match="missing field.*obs_var"):
        load_normalization(tmp_path / "partial.npz")


def test_wrong_version(tmp_path):
    arrays = stats().to_arrays()
    arrays["format_version"] = np.array(99)
    np.savez(tmp_path / "v99.npz", **arrays)
    with pytest.raises(UserError, match="'format_version' = 99"):
        load_normalization(tmp_path / "v99.npz")


def test_pickled_content_is_refused(tmp_path):
    arrays = stats().to_arrays()
    arrays["obs_mean"] = np.array([{"evil": 1}], dtype=object)
    np.savez(tmp_path / "pickled.npz", **arrays)
    with pytest.raises(UserError, match="not a normalization"):
        load_normalization(tmp_path / "pickled.npz")
