"""Atomic writes: a failed write leaves neither a partial file nor a temporary one behind."""

import json
import math
import os
import tempfile

import numpy as np
import pytest

from sim2real.errors import UserError
from sim2real.io import (
    atomic_path,
    atomic_write_text,
    check_output_dir,
    staged_directory,
    write_json,
)


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


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_written_files_and_directories_follow_the_umask(tmp_path, umask):
    previous = os.umask(umask)
    try:
        atomic_write_text(tmp_path / "a.json", "{}")
        with staged_directory(tmp_path / "bundle") as staging:
            atomic_write_text(staging / "metadata.json", "{}")
    finally:
        os.umask(previous)
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o666 & ~umask
    assert (tmp_path / "bundle").stat().st_mode & 0o777 == 0o777 & ~umask
    assert (tmp_path / "bundle" / "metadata.json").stat().st_mode & 0o777 == 0o666 & ~umask


def test_output_directories_that_can_be_written_pass(tmp_path):
    assert check_output_dir(tmp_path, "--out") == tmp_path
    assert check_output_dir(tmp_path / "new" / "deeper", "--out") == tmp_path / "new" / "deeper"
    assert not (tmp_path / "new").exists()  # checking creates nothing
    assert list(tmp_path.iterdir()) == []


def test_impossible_output_directories_are_one_line_errors(tmp_path):
    file = tmp_path / "file"
    file.write_text("x")
    with pytest.raises(UserError, match=r"^--out .*file: exists and is not a directory"):
        check_output_dir(file, "--out")
    with pytest.raises(UserError, match=r"^--out .*file/a/b: .*file is a file, so no directory"):
        check_output_dir(file / "a" / "b", "--out")
    with pytest.raises(UserError, match=r"^--out .*: already exists; give a new directory"):
        check_output_dir(tmp_path, "--out", new=True)


def test_an_unwritable_location_is_refused(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "TemporaryFile", refuse)  # root could write anywhere
    with pytest.raises(UserError, match=r"^--out .*/out: cannot write in .* \(Permission denied\)"):
        check_output_dir(tmp_path / "out", "--out")
