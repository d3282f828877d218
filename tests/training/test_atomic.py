"""Atomic writes: the target is the old or the new content, never a mix."""

import errno
import os

import pytest

from fedrun.training import atomic


def test_write_replaces_content_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "file.json"
    target.write_bytes(b"old")
    atomic.write_atomic(str(target), b"new content")
    assert target.read_bytes() == b"new content"
    assert os.listdir(tmp_path) == ["file.json"]


def test_failed_write_keeps_the_old_content(tmp_path, monkeypatch):
    target = tmp_path / "file.json"
    target.write_bytes(b"old")

    def half_then_full(fd, data):
        os.write(fd, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic, "write_chunks", half_then_full)
    with pytest.raises(OSError, match="No space left"):
        atomic.write_atomic(str(target), b"new content")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["file.json"]


def test_stale_temporaries_are_removed(tmp_path):
    (tmp_path / f".a.npz.123{atomic.TEMP_SUFFIX}").write_bytes(b"x")
    (tmp_path / "keep.json").write_bytes(b"y")
    assert atomic.remove_stale_temporaries(str(tmp_path)) == [f".a.npz.123{atomic.TEMP_SUFFIX}"]
    assert os.listdir(tmp_path) == ["keep.json"]
