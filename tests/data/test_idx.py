"""IDX files: round trips in both compressions, and refusal of broken files."""

import gzip

import numpy as np
import pytest

from fedrun.data.errors import DataError
from fedrun.data.idx import find_file, read_idx, write_idx


@pytest.mark.parametrize(
    "name", ["images-idx3-ubyte.gz", "images-idx3-ubyte"], ids=["gzip", "plain"]
)
@pytest.mark.parametrize(
    "array",
    [
        np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4),
        np.array([3, 1, 2], np.uint8),
        np.linspace(-1, 1, 6, dtype=np.float32),
    ],
    ids=["images-uint8", "labels-uint8", "float32"],
)
def test_round_trip(tmp_path, name, array):
    path = str(tmp_path / name)
    write_idx(path, array)
    with open(path, "rb") as f:
        assert (f.read(2) == b"\x1f\x8b") == name.endswith(".gz")
    read = read_idx(path)
    assert read.dtype == array.dtype and read.shape == array.shape
    np.testing.assert_array_equal(read, array)


def test_header_is_big_endian_idx(tmp_path):
    path = str(tmp_path / "labels-idx1-ubyte")
    write_idx(path, np.array([7, 8], np.uint8))
    assert (
        tmp_path / "labels-idx1-ubyte"
    ).read_bytes() == b"\x00\x00\x08\x01\x00\x00\x00\x02\x07\x08"


@pytest.mark.parametrize(
    "content, problem",
    [
        (b"\x01\x02\x08\x01\x00\x00\x00\x02\x07\x08", "bad magic"),
        (b"\x00\x00\x08\x03\x00\x00", "truncated"),
        (b"\x00\x00\x08\x01\x00\x00\x00\x05\x07\x08", "promises shape \\[5\\]"),
        (gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x02\x07")[:-6], "cannot read"),
    ],
    ids=["bad-magic", "short-header", "short-payload", "broken-gzip"],
)
def test_broken_files_name_the_file(tmp_path, content, problem):
    path = tmp_path / "broken-idx1-ubyte"
    path.write_bytes(content)
    with pytest.raises(DataError, match=problem) as info:
        read_idx(str(path))
    assert info.value.source == str(path)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        read_idx(str(tmp_path / "nope"))


def test_find_file_prefers_plain_then_gzip(tmp_path):
    (tmp_path / "a-idx1-ubyte.gz").write_bytes(b"")
    assert find_file(str(tmp_path), ["a-idx1-ubyte"]) == str(tmp_path / "a-idx1-ubyte.gz")
    (tmp_path / "a-idx1-ubyte").write_bytes(b"")
    assert find_file(str(tmp_path), ["a-idx1-ubyte"]) == str(tmp_path / "a-idx1-ubyte")
    assert find_file(str(tmp_path), ["b"]) is None
