"""Atomic writes: a failed write leaves neither a partial file nor a temporary one behind."""

import json
import math

import numpy as np
import pytest

from sim2real.io import atomic_path, atomic_write_text, staged_directory, write_json


class Boom(Exception):
    pass


def test_atomic_write_replaces_the_whole_file(tmp_path):
    atomic_write_text(tmp_path / "a.txt", "one")
    atomic_write_text(tmp_path / "a.txt", "two")
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]
    assert (tmp_path / "a.txt").read_text() == "two"


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "model.zip"
    path.write_text("old")
    with pytest.raises(Boom), atomic_path(path) as temporary:
        temporary.write_text("half of the new")
        raise Boom
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.zip"]


def test_a_failed_first_write_leaves_nothing(tmp_path):
    with pytest.raises(TypeError):
        write_json(tmp_path / "x.json", {"fine": 1, "not json": object()})
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_keeps_the_suffix_writers_look_at(tmp_path):
    with atomic_path(tmp_path / "model.zip") as temporary:
        assert temporary.parent == tmp_path and temporary.suffix == ".tmp"
        temporary.write_bytes(b"zip")
    assert (tmp_path / "model.zip").read_bytes() == b"zip"


def test_write_json_is_strict(tmp_path):
    path = write_json(tmp_path / "x.json", {"a": np.float32(1.5), "nan": math.nan, "p": tmp_path})
    assert json.loads(path.read_text()) == {"a": 1.5, "nan": None, "p": str(tmp_path)}


def test_staged_directory_appears_whole_or_not_at_all(tmp_path):
    final = tmp_path / "bundle"
    with pytest.raises(Boom), staged_directory(final) as staging:
        (staging / "weights.npz").write_bytes(b"w")
        raise Boom
    assert list(tmp_path.iterdir()) == []
    with staged_directory(final) as staging:
        (staging / "weights.npz").write_bytes(b"w")
        assert not final.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["bundle"]
    assert (final / "weights.npz").read_bytes() == b"w"


def test_named_staging_replaces_a_leftover(tmp_path):
    staging = tmp_path / ".staging-step_1-7"
    staging.mkdir()
    (staging / "model.zip").write_bytes(b"half a zip")
    with staged_directory(tmp_path / "step_1", staging) as directory:
        assert directory == staging and list(directory.iterdir()) == []
        (directory / "model.zip").write_bytes(b"zip")
    assert [p.name for p in tmp_path.iterdir()] == ["step_1"]


def test_a_failed_stage_can_be_kept_for_its_owner(tmp_path):
    staging = tmp_path / ".staging-step_1-7"
    with pytest.raises(Boom), staged_directory(tmp_path / "step_1", staging, keep_on_failure=True):
        (staging / "model.zip").write_bytes(b"half a zip")
        raise Boom
    assert [p.name for p in tmp_path.iterdir()] == [staging.name]
