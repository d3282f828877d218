"""Checks that data read from files is fit to train on, before it trains.

Every check raises `DataError(source, problem, client_id)` naming the file and,
where the problem belongs to one client, that client. Sources call
`check_features` / `check_labels` on centralized arrays at load, and
`check_client` on a client's arrays when they first read it.
"""

from __future__ import annotations

from typing import Mapping, Optional, Sequence

import numpy as np

from fedrun.data.errors import DataError


def check_features(
    source: str,
    x: np.ndarray,
    shape: Optional[Sequence[int]] = None,
    value_range: Optional[tuple[float, float]] = None,
    client_id: Optional[str] = None,
) -> None:
    """Features have the expected per-example shape, are finite and lie in range.

    Args:
        source: The file the features came from.
        x: Features `[n, ...]`.
        shape: Expected shape of one example (None: any).
        value_range: Inclusive `(low, high)` bounds of every value (None: any).
        client_id: The client the features belong to, if any.
    """
    if shape is not None and tuple(x.shape[1:]) != tuple(shape):
        raise DataError(
            source,
            f"features have shape {list(x.shape)}, expected [n, {', '.join(map(str, shape))}]",
            client_id,
        )
    if np.issubdtype(x.dtype, np.floating):
        bad = ~np.isfinite(x)
        if bad.any():
            position = int(np.argmax(bad.reshape(len(x), -1).any(axis=1)))
            raise DataError(
                source,
                f"features hold NaN or infinite values (first at example {position})",
                client_id,
            )
    if value_range is not None and x.size:
        low, high = float(np.min(x)), float(np.max(x))
        if low < value_range[0] or high > value_range[1]:
            raise DataError(
                source,
                f"feature values span [{low}, {high}], outside the expected [{value_range[0]}, {value_range[1]}]",
                client_id,
            )


def check_labels(
    source: str, y: np.ndarray, num_classes: int, client_id: Optional[str] = None
) -> None:
    """Labels are integers in `[0, num_classes)`."""
    if not np.issubdtype(y.dtype, np.integer):
        raise DataError(source, f"labels have dtype {y.dtype}, expected integers", client_id)
    if y.size == 0:
        return
    low, high = int(np.min(y)), int(np.max(y))
    if low < 0 or high >= num_classes:
        bad = int(np.argmax(((y < 0) | (y >= num_classes)).reshape(len(y), -1).any(axis=1)))
        raise DataError(
            source,
            f"labels span {low}..{high}, outside 0..{num_classes - 1} (first bad label at example {bad})",
            client_id,
        )


def check_client(
    source: str,
    client_id: str,
    arrays: Mapping[str, np.ndarray],
    num_classes: int,
    shape: Optional[Sequence[int]] = None,
    value_range: Optional[tuple[float, float]] = None,
) -> None:
    """One client's `{"x", "y"}`: non-empty, equal lengths, sound features and labels."""
    x, y = arrays["x"], arrays["y"]
    if len(x) == 0:
        raise DataError(source, "the client holds no examples", client_id)
    if len(x) != len(y):
        raise DataError(source, f"{len(x)} feature rows but {len(y)} labels", client_id)
    check_features(source, x, shape, value_range, client_id)
    check_labels(source, y, num_classes, client_id)
