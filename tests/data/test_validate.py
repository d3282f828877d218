"""Data checks: every failure names the file and, where one is at fault, the client."""

import numpy as np
import pytest

from fedrun.data.errors import DataError
from fedrun.data.validate import check_client, check_features, check_labels


def good_client(n=4):
    return {"x": np.full((n, 2, 2), 0.5, np.float32), "y": np.arange(n, dtype=np.int32) % 3}


def test_good_client_passes():
    check_client("f.h5", "c0", good_client(), 3, (2, 2), (0.0, 1.0))


@pytest.mark.parametrize(
    "change, problem",
    [
        (lambda a: {"x": a["x"][:0], "y": a["y"][:0]}, "no examples"),
        (lambda a: {"x": a["x"], "y": a["y"][:2]}, "4 feature rows but 2 labels"),
        (lambda a: {"x": a["x"].reshape(4, 4, 1), "y": a["y"]}, "shape"),
        (
            lambda a: {
                "x": np.where(np.arange(16).reshape(4, 2, 2) == 9, np.nan, a["x"]).astype(
                    np.float32
                ),
                "y": a["y"],
            },
            "NaN",
        ),
        (lambda a: {"x": a["x"] + 1.0, "y": a["y"]}, "outside the expected"),
        (lambda a: {"x": a["x"], "y": a["y"] + 5}, "outside 0..2"),
        (lambda a: {"x": a["x"], "y": a["y"] - 1}, "outside 0..2"),
        (lambda a: {"x": a["x"], "y": a["y"].astype(np.float32)}, "expected integers"),
    ],
    ids=[
        "empty",
        "length-mismatch",
        "wrong-shape",
        "nan",
        "out-of-range-pixels",
        "label-too-big",
        "negative-label",
        "float-labels",
    ],
)
def test_bad_client_names_file_and_client(change, problem):
    with pytest.raises(DataError, match=problem) as info:
        check_client("f.h5", "writer_7", change(good_client()), 3, (2, 2), (0.0, 1.0))
    assert info.value.source == "f.h5" and info.value.client_id == "writer_7"
    assert "writer_7" in str(info.value) and "f.h5" in str(info.value)


def test_nan_reports_first_bad_example():
    x = np.zeros((5, 3), np.float32)
    x[3, 1] = np.inf
    with pytest.raises(DataError, match="first at example 3"):
        check_features("a.idx", x)


def test_label_check_accepts_sequences_in_range():
    check_labels("t.txt", np.array([[0, 1], [2, 89]]), 90)
    with pytest.raises(DataError, match="first bad label at example 1"):
        check_labels("t.txt", np.array([[0, 1], [2, 90]]), 90)
