"""Client datasets -> `CohortData`: the user's batches kept exactly; replayable reads reused."""

import collections

import numpy as np
import pytest
import tensorflow as tf

from fedrun.compat.tff.learning.client_datasets import (
    DatasetCohorts,
    assemble,
    is_replayable,
    read_batches,
)
from fedrun.data.errors import DataError

SPEC = {"x": tf.TensorSpec([2], tf.float32), "y": tf.TensorSpec([1], tf.int32)}


@pytest.fixture(autouse=True)
def no_global_seed():
    """Unseeded pipelines are what these tests are about: clear the global seed that
    earlier tests leave behind (building a model seeds Keras, and so TensorFlow)."""
    tf.random.set_seed(None)


def client_dataset(n, offset=0, batch=3):
    x = np.arange(offset, offset + 2 * n, dtype=np.float32).reshape(n, 2)
    y = np.arange(offset, offset + n, dtype=np.int32).reshape(n, 1)
    return tf.data.Dataset.from_tensor_slices(collections.OrderedDict(x=x, y=y)).batch(batch)


def batches_of(cohort, k):
    """Client k's batches of y, as the trainer gathers them."""
    y = cohort.pool["y"].numpy()[:, 0]
    index, mask = cohort.index.numpy()[k], cohort.mask.numpy()[k]
    return [list(y[i[m > 0]]) for i, m in zip(index, mask) if m.sum() > 0]


def test_batches_keep_the_pipelines_sizes_and_order():
    cohort = assemble(
        [read_batches(client_dataset(7), SPEC, 0), read_batches(client_dataset(2, 100), SPEC, 1)], 1
    )
    assert batches_of(cohort, 0) == [[0, 1, 2], [3, 4, 5], [6]]
    assert batches_of(cohort, 1) == [[100, 101]]
    assert cohort.index.shape == (2, 3, 3)
    np.testing.assert_array_equal(cohort.mask.numpy().sum(axis=(1, 2)), [7, 2])


def test_tuple_batches_are_read_as_x_and_y():
    dataset = tf.data.Dataset.from_tensor_slices(
        (np.zeros((4, 2), np.float32), np.ones((4, 1), np.int32))
    ).batch(4)
    batches = read_batches(dataset, SPEC, 0)
    assert batches.sizes.tolist() == [4]
    assert batches.examples["y"].shape == (4, 1)


def test_batches_that_do_not_fit_the_model_are_refused():
    wrong = tf.data.Dataset.from_tensor_slices(
        {"x": np.zeros((3, 5), np.float32), "y": np.zeros((3, 1), np.int32)}
    ).batch(2)
    with pytest.raises(DataError, match=r"client_data\[4\].*does not fit"):
        read_batches(wrong, SPEC, 4)


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda d: d.shuffle(10, seed=1), True),
        (lambda d: d.shuffle(10), False),
        (lambda d: d.map(lambda e: {**e, "x": e["x"] + tf.random.uniform([2])}), False),
        (
            lambda d: d.map(
                lambda e: {**e, "x": tf.py_function(lambda t: t, [e["x"]], tf.float32)}
            ),
            False,
        ),
        (lambda d: d.repeat(2).prefetch(1), True),
    ],
    ids=[
        "seeded-shuffle",
        "unseeded-shuffle",
        "unseeded-random-op",
        "python-function",
        "no-randomness",
    ],
)
def test_replayable_pipelines_are_those_without_unseeded_randomness(make, expected):
    assert is_replayable(make(client_dataset(5).unbatch())) is expected


def test_replayable_datasets_are_read_once_and_reused():
    # A seeded shuffle reshuffles on every iteration, so equal orders mean one read.
    datasets = [client_dataset(20).unbatch().shuffle(20, seed=3).batch(20), client_dataset(4, 50)]
    cohorts = DatasetCohorts(SPEC)
    first = cohorts.cohort(datasets, round_num=1)
    again = cohorts.cohort(datasets, round_num=2)
    assert again.round_num == 2 and again.pool["x"] is first.pool["x"]
    other_process = DatasetCohorts(SPEC).cohort(datasets, round_num=1)
    assert batches_of(other_process, 0) == batches_of(first, 0)
    assert batches_of(first, 0) != [sorted(batches_of(first, 0)[0])]


def test_unseeded_datasets_are_read_every_round():
    dataset = client_dataset(30).unbatch().shuffle(30).batch(30)
    cohorts = DatasetCohorts(SPEC)
    orders = [batches_of(cohorts.cohort([dataset], r), 0)[0] for r in (1, 2, 3)]
    assert sorted(orders[0]) == list(range(30))
    assert not orders[0] == orders[1] == orders[2]
