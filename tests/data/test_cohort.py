"""Cohort batching: schedules stacked over clients."""

import numpy as np

from fedrun.data.client_data import ArrayClientData
from fedrun.data.cohort import arrays_cohort, build_cohort, build_eval_cohort
from fedrun.data.preprocess import PreprocessConfig
from tests.conftest import make_arrays

DATA = ArrayClientData(
    make_arrays(12), {"a": np.arange(7), "b": np.arange(7, 10), "c": np.arange(10, 12)}
)
CONFIG = PreprocessConfig(epochs=2, batch_size=3, shuffle_buffer=4)


def test_shapes_and_padding():
    cohort = build_cohort(DATA, ["a", "b", "c"], CONFIG, seed=0, round_num=1)
    assert tuple(cohort.index.shape) == (3, 5, 3)
    assert cohort.steps_per_client().tolist() == [5, 2, 2]
    assert cohort.mask.numpy().sum(axis=(1, 2)).tolist() == [14, 6, 4]


def test_clients_only_see_their_own_examples():
    cohort = build_cohort(DATA, ["b", "c"], CONFIG, seed=0, round_num=1)
    for k, idx in enumerate((np.arange(7, 10), np.arange(10, 12))):
        used = cohort.index.numpy()[k][cohort.mask.numpy()[k] > 0]
        assert set(used.tolist()) == set(idx.tolist())


def test_rounds_reshuffle_unless_seed_is_fixed():
    r1 = build_cohort(DATA, ["a"], CONFIG, seed=0, round_num=1).index.numpy()
    r2 = build_cohort(DATA, ["a"], CONFIG, seed=0, round_num=2).index.numpy()
    assert not np.array_equal(r1, r2)
    fixed = PreprocessConfig(epochs=2, batch_size=3, shuffle_buffer=4, shuffle_seed=1)
    f1 = build_cohort(DATA, ["a"], fixed, seed=0, round_num=1).index.numpy()
    f2 = build_cohort(DATA, ["a"], fixed, seed=0, round_num=2).index.numpy()
    assert np.array_equal(f1, f2)


def test_order_independent_of_cohort_composition():
    alone = build_cohort(DATA, ["b"], CONFIG, seed=0, round_num=3).index.numpy()[0]
    together = build_cohort(DATA, ["a", "b"], CONFIG, seed=0, round_num=3)
    assert np.array_equal(together.client(1).index.numpy()[0], alone)


def test_per_client_epochs_shorten_schedules():
    cohort = build_cohort(DATA, ["a", "b"], CONFIG, seed=0, round_num=1, epochs=[1, 2])
    assert cohort.mask.numpy().sum(axis=(1, 2)).tolist() == [7, 6]


def test_subset_trims_padding():
    cohort = build_cohort(DATA, ["a", "b", "c"], CONFIG, seed=0, round_num=1)
    sub = cohort.subset([1, 2])
    assert sub.client_ids == ("b", "c") and tuple(sub.index.shape) == (2, 2, 3)


def test_eval_cohorts_visit_each_example_once_in_order():
    cohort = build_eval_cohort(DATA, ["a", "c"], 4)
    assert cohort.index.numpy()[0][cohort.mask.numpy()[0] > 0].tolist() == list(range(7))
    central = arrays_cohort(make_arrays(5), 2)
    assert central.num_clients == 1 and tuple(central.index.shape) == (1, 3, 2)
