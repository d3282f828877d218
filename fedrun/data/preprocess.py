"""Client preprocessing: epochs, shuffling and batching, declared in YAML.

The tutorial's pipeline is `dataset.repeat(E).shuffle(buffer, seed).batch(B)`. fedrun
keeps those semantics (batches cross epoch boundaries; the shuffle draws from a
buffer of `shuffle_buffer` examples) but computes the *order* of examples as index
arrays in numpy, once per client and round, so the compiled training function only
gathers batches from arrays and no `tf.data` pipeline is rebuilt in the hot loop.
`dataset_pipeline` gives the equivalent `tf.data` pipeline for the dataset view.
"""

from __future__ import annotations

import dataclasses
import zlib
from typing import Optional

import numpy as np
import tensorflow as tf

from fedrun.config.params import bounded


@dataclasses.dataclass(frozen=True)
class PreprocessConfig:
    """The `preprocess:` block of the config.

    Attributes:
        epochs: Local epochs (passes over a client's data per round).
        batch_size: Examples per local step.
        shuffle_buffer: Shuffle buffer size; 0 or 1 keeps the stored order; a buffer
            at least the client's examples times epochs is a full shuffle.
        shuffle_seed: Fixed seed for the order (the same every round, as the
            tutorial's `seed=1`); null derives a new order every round from `seed`.
        flatten: Flatten features to a vector (the tutorial's 784 pixels).
        prefetch: Prefetch buffer of the `tf.data` view.
        eval_batch_size: Batch size for evaluation.
    """

    epochs: int = bounded(1, ge=1)
    batch_size: int = bounded(20, ge=1)
    shuffle_buffer: int = bounded(100, ge=0)
    shuffle_seed: Optional[int] = None
    flatten: bool = True
    prefetch: int = bounded(10, ge=0)
    eval_batch_size: int = bounded(100, ge=1)


def client_seed(seed: int, round_num: int, client_id: str) -> np.random.Generator:
    """A generator for one client and round, independent of cohort order and runtime."""
    return np.random.default_rng([seed, round_num, zlib.crc32(client_id.encode())])


def buffered_shuffle(stream: np.ndarray, buffer_size: int, rng: np.random.Generator) -> np.ndarray:
    """The order a `tf.data` shuffle with a buffer of `buffer_size` produces.

    Fills the buffer, then repeatedly emits a uniformly chosen buffered element and
    refills its slot from the stream.
    """
    n = len(stream)
    if buffer_size <= 1:
        return stream.copy()
    if buffer_size >= n:
        return stream[rng.permutation(n)]
    buffer = list(stream[:buffer_size])
    out = np.empty(n, dtype=stream.dtype)
    picks = rng.random(n)
    next_in = buffer_size
    for i in range(n):
        j = int(picks[i] * len(buffer))
        out[i] = buffer[j]
        if next_in < n:
            buffer[j] = stream[next_in]
            next_in += 1
        else:
            buffer[j] = buffer[-1]
            buffer.pop()
    return out


def example_order(
    num_examples: int, epochs: int, shuffle_buffer: int, rng: np.random.Generator
) -> np.ndarray:
    """Positions (into a client's examples) in the order training visits them."""
    stream = np.tile(np.arange(num_examples, dtype=np.int64), epochs)
    return buffered_shuffle(stream, shuffle_buffer, rng)


def batch_schedule(order: np.ndarray, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Cuts an example order into batches.

    Returns:
        `index` int64 `[steps, batch_size]` (padding positions hold 0) and `mask`
        float32 of the same shape (1 for real examples).
    """
    steps = -(-len(order) // batch_size)
    index = np.zeros(steps * batch_size, dtype=np.int64)
    mask = np.zeros(steps * batch_size, dtype=np.float32)
    index[: len(order)] = order
    mask[: len(order)] = 1.0
    return index.reshape(steps, batch_size), mask.reshape(steps, batch_size)


def dataset_pipeline(
    dataset: tf.data.Dataset, config: PreprocessConfig, seed: Optional[int] = None
) -> tf.data.Dataset:
    """The `tf.data` form of the same preprocessing (the dataset view)."""
    ds = dataset.repeat(config.epochs)
    if config.shuffle_buffer > 1:
        ds = ds.shuffle(
            config.shuffle_buffer,
            seed=config.shuffle_seed if config.shuffle_seed is not None else seed,
        )
    ds = ds.batch(config.batch_size)
    if config.flatten:
        ds = ds.map(lambda e: {**e, "x": tf.reshape(e["x"], [tf.shape(e["x"])[0], -1])})
    return ds.prefetch(config.prefetch) if config.prefetch else ds
