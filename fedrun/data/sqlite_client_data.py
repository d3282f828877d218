"""Clients stored in TFF's SQLite format, read lazily.

TFF's newer releases publish their federated sets as SQLite databases
(`tff.simulation.datasets.SqlClientData`): a table `examples(split_name,
client_id, serialized_example_proto)` with one serialized `tf.train.Example` per
row, and a table `client_metadata(client_id, split_name, num_examples)`. One
database may hold several splits (EMNIST's `digits_only_train`, `all_test` ...).

Opening reads the split's client ids (and sizes) from `client_metadata`; a
client's rows are read, parsed and converted when that client is asked for.
"""

from __future__ import annotations

import os
import sqlite3
import urllib.parse
from typing import Callable, Optional, Sequence

import numpy as np
import tensorflow as tf

from fedrun.data.client_data import Arrays, StoredClientData
from fedrun.data.errors import DataError

Features = dict[str, np.ndarray]
SqlConvertFn = Callable[[Features, str], Arrays]
REQUIRED_COLUMNS = {
    "examples": {"split_name", "client_id", "serialized_example_proto"},
    "client_metadata": {"client_id"},
}


def require_features(features: Features, names: Sequence[str], source: str, client_id: str) -> None:
    """A `DataError` naming the store and client unless every feature in `names` is present."""
    if any(name not in features for name in names):
        wanted = " and ".join(repr(name) for name in names)
        raise DataError(
            source, f"examples need features {wanted}, found {sorted(features)}", client_id
        )


def parse_examples(protos: Sequence[bytes], source: str, client_id: str) -> Features:
    """Serialized `tf.train.Example`s as one array per feature, stacked over examples.

    Float features become float32 `[n, k]`, int64 features int64 `[n, k]`, bytes
    features an object array `[n]` (first value of each example).
    """
    columns: dict[str, list] = {}
    kinds: dict[str, str] = {}
    for proto in protos:
        try:
            example = tf.train.Example.FromString(proto)
        except Exception as err:  # protobuf's DecodeError has no stable import path
            raise DataError(
                source, f"a row is not a serialized tf.train.Example: {err}", client_id
            ) from None
        for key, feature in example.features.feature.items():
            kind = feature.WhichOneof("kind")
            if kinds.setdefault(key, kind) != kind:
                raise DataError(source, f"feature {key!r} changes type between examples", client_id)
            values = getattr(feature, kind).value
            columns.setdefault(key, []).append(
                values[0] if kind == "bytes_list" else np.asarray(values)
            )
    features: Features = {}
    for key, values in columns.items():
        if len(values) != len(protos):
            raise DataError(source, f"feature {key!r} is missing from some examples", client_id)
        if kinds[key] == "bytes_list":
            features[key] = np.array(values, dtype=object)
            continue
        if len({len(v) for v in values}) > 1:
            raise DataError(
                source, f"feature {key!r} has different lengths between examples", client_id
            )
        dtype = np.float32 if kinds[key] == "float_list" else np.int64
        features[key] = np.stack(values).astype(dtype, copy=False)
    return features


def connect(path: str, how_to_get: str) -> sqlite3.Connection:
    """A read-only connection to a TFF-format database, checking its tables."""
    if not os.path.exists(path):
        raise DataError(path, f"file not found; {how_to_get}")
    uri = "file:" + urllib.parse.quote(os.path.abspath(path)) + "?mode=ro"
    try:
        connection = sqlite3.connect(uri, uri=True, check_same_thread=False)
        for table, needed in REQUIRED_COLUMNS.items():
            columns = {row[1] for row in connection.execute(f"PRAGMA table_info({table})")}
            if not columns:
                raise DataError(path, f"no table {table!r}: expected TFF's SqlClientData layout")
            if needed - columns:
                raise DataError(path, f"table {table!r} lacks columns {sorted(needed - columns)}")
    except sqlite3.DatabaseError as err:
        raise DataError(path, f"cannot read as SQLite (corrupt or not a database): {err}") from None
    return connection


class SQLiteClientData(StoredClientData):
    """The clients of one split of a TFF-format SQLite database.

    Args:
        path: The database file.
        split_name: The split (`train`, `digits_only_test` ...); None for every row.
        convert: `(parsed features, client id) -> {"x", "y"}`: checks and converts
            one client (raising `DataError` naming the file and client).
        element_spec: Spec of one converted example.
        how_to_get: How to obtain the file, for the missing-file message.
        rows_are_examples: Each row converts to one example (EMNIST), so client
            sizes come from `client_metadata`; False (Shakespeare's snippets become
            several windows) counts by converting the client.
    """

    def __init__(
        self,
        path: str,
        split_name: Optional[str],
        convert: SqlConvertFn,
        element_spec: dict[str, tf.TensorSpec],
        how_to_get: str = "",
        rows_are_examples: bool = True,
    ) -> None:
        self.path = path
        self._split = split_name
        self._db = connect(path, how_to_get)
        self._convert = convert
        self._rows = self._read_sizes()
        self._rows_are_examples = rows_are_examples
        if not self._rows:
            raise DataError(path, f"no clients in split {split_name!r}")
        super().__init__(sorted(self._rows), element_spec)

    def _where(self) -> tuple[str, tuple]:
        return (" WHERE split_name = ?", (self._split,)) if self._split is not None else ("", ())

    def _read_sizes(self) -> dict[str, int]:
        where, args = self._where()
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(client_metadata)")}
        try:
            if "num_examples" in columns:
                rows = self._db.execute(
                    f"SELECT client_id, SUM(num_examples) FROM client_metadata{where} GROUP BY client_id",
                    args,
                )
            else:
                rows = self._db.execute(
                    f"SELECT client_id, COUNT(*) FROM examples{where} GROUP BY client_id", args
                )
            return {str(cid): int(n) for cid, n in rows}
        except sqlite3.DatabaseError as err:
            raise DataError(self.path, f"cannot list clients: {err}") from None

    def _read(self, client_id: str) -> Arrays:
        if client_id not in self._rows:
            raise DataError(self.path, "no such client in the database", client_id)
        where, args = self._where()
        where = (where + " AND" if where else " WHERE") + " client_id = ?"
        try:
            rows = self._db.execute(
                f"SELECT serialized_example_proto FROM examples{where} ORDER BY rowid",
                (*args, client_id),
            )
            protos = [bytes(row[0]) for row in rows]
        except sqlite3.DatabaseError as err:
            raise DataError(
                self.path, f"cannot read the client's examples: {err}", client_id
            ) from None
        if not protos:
            raise DataError(self.path, "the client holds no examples", client_id)
        return self._convert(parse_examples(protos, self.path, client_id), client_id)

    def _count(self, client_id: str) -> Optional[int]:
        return self._rows.get(client_id) if self._rows_are_examples else None
