"""The recorded-data format: round trip, and files that do not fit are refused in one line."""

import io

import numpy as np
import pytest

from sim2real.data import FORMAT_VERSION, RecordedData, load_data, save_data
from sim2real.errors import UserError
from sim2real.state import STATE_FIELDS


def synthetic(lengths=(3, 2), joints=2) -> RecordedData:
    rng = np.random.default_rng(0)
    steps = sum(lengths)
    rows = steps + len(lengths)
    widths = {"joint_positions": joints, "joint_velocities": joints, "base_orientation": 4}
    return RecordedData(
        env_id="sim2real/CartPole-v0",
        control_dt=0.02,
        policy="random",
        observation_names=("a", "b", "c"),
        action_names=("force",),
        joint_names=tuple(f"j{i}" for i in range(joints)),
        base_name="cart",
        episode_lengths=np.array(lengths),
        observations=rng.normal(size=(rows, 3)).astype(np.float32),
        state={name: rng.normal(size=(rows, widths.get(name, 3))) for name in STATE_FIELDS},
        actions=rng.uniform(-1, 1, size=(steps, 1)),
        rewards=np.ones(steps),
        terminated=np.arange(steps) == steps - 1,
        truncated=np.zeros(steps, dtype=bool),
    )


def arrays_of(path):
    with np.load(path, allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files}


def test_round_trip_is_exact_and_plain_numpy(tmp_path):
    data = synthetic()
    path = save_data(tmp_path / "d.npz", data)
    arrays = arrays_of(path)  # readable without pickles
    assert int(arrays["format_version"]) == FORMAT_VERSION
    assert str(arrays["env_id"]) == "sim2real/CartPole-v0"
    loaded = load_data(path)
    assert loaded.episodes == 2 and loaded.steps == 5
    for name in STATE_FIELDS:
        np.testing.assert_array_equal(loaded.state[name], data.state[name])
    np.testing.assert_array_equal(loaded.actions, data.actions)
    np.testing.assert_array_equal(loaded.observations, data.observations)
    assert loaded.joint_names == data.joint_names and loaded.control_dt == 0.02
    np.testing.assert_array_equal(loaded.episode_returns(), [3.0, 2.0])
    assert loaded.state_start(1) == 4 and loaded.step_start(1) == 3
    assert not list(tmp_path.glob(".*tmp"))  # no temporary file left behind


def rewrite(tmp_path, change):
    arrays = arrays_of(save_data(tmp_path / "d.npz", synthetic()))
    change(arrays)
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda a: a.update(format_version=np.array(FORMAT_VERSION + 1)), "format version 2"),
        (lambda a: a.pop("actions"), "missing array(s) actions"),
        (lambda a: a.update(actions=a["actions"][:-1]), "'actions' has shape (4, 1)"),
        (lambda a: a.update(joint_positions=a["joint_positions"][:, :1]), "'joint_positions'"),
        (lambda a: a.update(episode_lengths=np.array([3, 0])), "episode_lengths"),
        (lambda a: a.update(rewards=np.full(5, np.nan)), "NaN"),
        (lambda a: a.update(env_id=np.array(["a", "b"])), "'env_id' must be a single value"),
        (lambda a: a.update(control_dt=np.array(-0.01)), "'control_dt' = -0.01; must be"),
        (lambda a: a.update(control_dt=np.array(np.nan)), "'control_dt' = nan; must be"),
    ],
)
def test_mismatched_files_are_refused_in_one_line(tmp_path, change, message):
    with pytest.raises(UserError) as error:
        load_data(rewrite(tmp_path, change))
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_unreadable_files_are_refused_in_one_line(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_data(tmp_path / "missing.npz")
    with pytest.raises(UserError, match="is a directory; give a data file"):
        load_data(tmp_path)
    (tmp_path / "text.npz").write_text("not a zip")
    with pytest.raises(UserError, match="not a readable .npz") as error:
        load_data(tmp_path / "text.npz")
    assert "pickle" not in str(error.value)  # numpy's hint to load it unsafely is not ours
    buffer = io.BytesIO()
    np.savez(buffer, format_version=np.array([{"a": 1}], dtype=object))
    (tmp_path / "pickled.npz").write_bytes(buffer.getvalue())
    with pytest.raises(UserError):
        load_data(tmp_path / "pickled.npz")
