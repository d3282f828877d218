"""Preprocessing schedules: repeat -> shuffle(buffer) -> batch, in numpy."""

import numpy as np
import pytest
import tensorflow as tf

from fedrun.data.preprocess import (
    PreprocessConfig,
    batch_schedule,
    buffered_shuffle,
    dataset_pipeline,
    example_order,
)


@pytest.mark.parametrize(
    "buffer", [0, 1, 7, 100, 1000], ids=["none", "one", "small", "equal", "larger"]
)
def test_buffered_shuffle_is_a_permutation(buffer):
    stream = np.tile(np.arange(50), 2)
    out = buffered_shuffle(stream, buffer, np.random.default_rng(0))
    assert sorted(out.tolist()) == sorted(stream.tolist())


def test_no_buffer_keeps_order():
    stream = np.arange(20)
    assert buffered_shuffle(stream, 0, np.random.default_rng(0)).tolist() == list(range(20))


def test_buffer_bounds_how_early_an_element_can_appear():
    # An element enters the buffer only when `buffer` earlier ones have; it cannot be
    # emitted before output position j - buffer + 1.
    buffer = 5
    out = buffered_shuffle(np.arange(200), buffer, np.random.default_rng(3))
    positions = np.argsort(out)
    assert np.all(positions >= np.arange(200) - buffer + 1)
    assert not np.array_equal(out, np.arange(200))


def test_order_depends_on_the_generator_only():
    a = example_order(30, 3, 10, np.random.default_rng(1))
    b = example_order(30, 3, 10, np.random.default_rng(1))
    assert np.array_equal(a, b) and len(a) == 90


def test_batches_cross_epoch_boundaries_and_pad_the_last():
    index, mask = batch_schedule(np.tile(np.arange(5), 2), 4)
    assert index.shape == (3, 4) and mask.tolist() == [[1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 0, 0]]
    assert index[1].tolist() == [4, 0, 1, 2]


def test_dataset_pipeline_matches_schedule_shapes():
    ds = tf.data.Dataset.from_tensor_slices(
        {"x": np.zeros((5, 2, 2), np.float32), "y": np.zeros(5, np.int32)}
    )
    config = PreprocessConfig(epochs=2, batch_size=4, shuffle_buffer=0, prefetch=0)
    batches = list(dataset_pipeline(ds, config))
    assert [int(b["y"].shape[0]) for b in batches] == [4, 4, 2]
    assert batches[0]["x"].shape == (4, 4)
