"""TFF's SQLite client data: splits, lazy reads, sizes, parsing and errors naming file and client."""

import sqlite3

import numpy as np
import pytest
import tensorflow as tf

from fedrun.data.errors import DataError
from fedrun.data.sqlite_client_data import SQLiteClientData, parse_examples, require_features
from tests.data.tff_format import example, write_tff_sqlite

SPEC = {"x": tf.TensorSpec([2], tf.float32), "y": tf.TensorSpec([], tf.int32)}


def convert(features, client_id):
    return {"x": features["v"], "y": features["k"][:, 0].astype(np.int32)}


def rows(values):
    return [
        {"v": np.array([v, -v], np.float32), "k": np.int64(v), "t": f"w{v}".encode()}
        for v in values
    ]


@pytest.fixture
def database(tmp_path):
    return write_tff_sqlite(
        tmp_path / "db.sqlite",
        {"train": {"b": rows([1, 2, 3]), "a": rows([4])}, "test": {"a": rows([5, 6])}},
    )


def test_clients_of_one_split_read_in_row_order(database):
    train = SQLiteClientData(database, "train", convert, SPEC)
    assert list(train.client_ids) == ["a", "b"]
    assert [train.num_examples(c) for c in train.client_ids] == [1, 3]
    arrays = train.arrays_for("b")
    np.testing.assert_array_equal(arrays["x"], [[1, -1], [2, -2], [3, -3]])
    assert arrays["y"].tolist() == [1, 2, 3]
    test = SQLiteClientData(database, "test", convert, SPEC)
    assert list(test.client_ids) == ["a"] and test.arrays_for("a")["y"].tolist() == [5, 6]
    assert SQLiteClientData(database, None, convert, SPEC).num_examples("a") == 3


def test_parse_examples_types():
    features = parse_examples(
        [example({"f": np.array([0.5, 1.5], np.float32), "i": np.int64(7), "s": b"hi"})] * 2,
        "src",
        "c",
    )
    assert features["f"].dtype == np.float32 and features["f"].shape == (2, 2)
    assert features["i"].dtype == np.int64 and features["i"].tolist() == [[7], [7]]
    assert features["s"].tolist() == [b"hi", b"hi"]


def test_unknown_client_and_split(database):
    train = SQLiteClientData(database, "train", convert, SPEC)
    with pytest.raises(DataError, match="client 'zz'.*no such client"):
        train.arrays_for("zz")
    with pytest.raises(DataError, match="no clients in split 'holdout'"):
        SQLiteClientData(database, "holdout", convert, SPEC)


def test_bad_rows_name_file_and_client(tmp_path):
    path = write_tff_sqlite(tmp_path / "db.sqlite", {"train": {"a": rows([1])}})
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO examples VALUES ('train', 'a', x'ffff01')")
    db.close()
    with pytest.raises(
        DataError, match=r"db\.sqlite \(client 'a'\): a row is not a serialized tf.train.Example"
    ):
        SQLiteClientData(path, "train", convert, SPEC)


@pytest.mark.parametrize(
    "make, problem",
    [
        pytest.param(
            lambda p: p.write_bytes(b"not a database" * 100),
            "cannot read as SQLite",
            id="not-sqlite",
        ),
        pytest.param(
            lambda p: sqlite3.connect(p).execute("CREATE TABLE other (a)"),
            "no table 'examples'",
            id="wrong-tables",
        ),
        pytest.param(lambda p: None, "file not found; get it", id="missing"),
    ],
)
def test_unusable_files_name_the_path(tmp_path, make, problem):
    path = tmp_path / "db.sqlite"
    make(path)
    with pytest.raises(DataError, match=problem) as err:
        SQLiteClientData(str(path), "train", convert, SPEC, how_to_get="get it")
    assert str(path) in str(err.value)


def test_missing_features_name_the_store_the_client_and_what_was_found():
    features = {"pixels": np.zeros((1, 4), np.float32)}
    require_features(features, ("pixels",), "db.sqlite", "f0000")
    with pytest.raises(
        DataError, match=r"features 'pixels' and 'label', found \['pixels'\]"
    ) as info:
        require_features(features, ("pixels", "label"), "db.sqlite", "f0000")
    assert (info.value.source, info.value.client_id) == ("db.sqlite", "f0000")
