"""Small files in TFF's published formats, made by the tests: SQLite databases of
serialized tf.train.Example rows, and tar.bz2 / LZMA carriers."""

from __future__ import annotations

import io
import lzma
import os
import sqlite3
import tarfile

import numpy as np
import tensorflow as tf


def example(features: dict) -> bytes:
    """A serialized tf.train.Example: float arrays -> float_list, ints -> int64_list, bytes -> bytes_list."""
    feature = {}
    for key, value in features.items():
        if isinstance(value, bytes):
            feature[key] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))
        elif np.issubdtype(np.asarray(value).dtype, np.floating):
            feature[key] = tf.train.Feature(float_list=tf.train.FloatList(value=np.ravel(value)))
        else:
            feature[key] = tf.train.Feature(int64_list=tf.train.Int64List(value=np.ravel(value)))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def write_tff_sqlite(path, splits: dict[str, dict[str, list[dict]]]) -> str:
    """A database in TFF's SqlClientData layout from `{split: {client: [example features]}}`."""
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE examples (split_name TEXT NOT NULL, client_id TEXT NOT NULL, serialized_example_proto BLOB NOT NULL)"
        )
        db.execute(
            "CREATE TABLE client_metadata (client_id TEXT NOT NULL, split_name TEXT NOT NULL, num_examples INTEGER NOT NULL)"
        )
        for split, clients in splits.items():
            for client, rows in clients.items():
                db.executemany(
                    "INSERT INTO examples VALUES (?, ?, ?)",
                    [(split, client, example(r)) for r in rows],
                )
                db.execute(
                    "INSERT INTO client_metadata VALUES (?, ?, ?)", (client, split, len(rows))
                )
    db.close()
    return str(path)


def emnist_rows(n: int, seed: int, num_classes: int = 10) -> list[dict]:
    """`n` EMNIST-like examples: 784 pixels in [0, 1] (1.0 = background) and a label."""
    rng = np.random.default_rng(seed)
    pixels = np.ones((n, 784), np.float32)
    pixels[:, 300:400] = rng.uniform(0, 0.3, size=(n, 100))
    return [{"pixels": pixels[i], "label": np.int64(i % num_classes)} for i in range(n)]


def tar_bz2(paths) -> bytes:
    """The files at `paths` in a tar.bz2 archive, under a top directory as TFF's archives have."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:bz2") as tar:
        for path in paths:
            tar.add(path, arcname=os.path.join("fed", os.path.basename(path)))
    return buffer.getvalue()


def lzma_of(path) -> bytes:
    with open(path, "rb") as f:
        return lzma.compress(f.read())
