"""Partitioners: sizes, label skew, seeding, errors."""

import numpy as np
import pytest

from fedrun.config.errors import ConfigError
from fedrun.data.partition import PARTITIONERS, split_train_test

LABELS = np.repeat(np.arange(10), 100)


def partition(node, num_clients=20, seed=0):
    return PARTITIONERS.build(
        node,
        "dataset.partition",
        labels=LABELS,
        num_clients=num_clients,
        rng=np.random.default_rng(seed),
    )


@pytest.mark.parametrize(
    "node",
    [
        {"type": "iid"},
        {"type": "shards", "shards_per_client": 2},
        {"type": "dirichlet", "alpha": 0.3},
    ],
    ids=["iid", "shards", "dirichlet"],
)
def test_every_example_assigned_once(node):
    parts = partition(node)
    assert len(parts) == 20
    assert sorted(np.concatenate(parts).tolist()) == list(range(len(LABELS)))


def test_iid_sizes_are_equal():
    assert {len(p) for p in partition({"type": "iid"})} == {50}


def test_shards_give_at_most_two_labels_per_client():
    parts = partition({"type": "shards", "shards_per_client": 2})
    assert max(len(np.unique(LABELS[p])) for p in parts) <= 2


def test_dirichlet_respects_min_size_and_skews_labels():
    parts = partition({"type": "dirichlet", "alpha": 0.1, "min_size": 10})
    assert min(len(p) for p in parts) >= 10
    dominant = np.mean([np.bincount(LABELS[p], minlength=10).max() / len(p) for p in parts])
    assert dominant > 0.5


def test_same_seed_same_split():
    a, b = partition({"type": "dirichlet"}, seed=4), partition({"type": "dirichlet"}, seed=4)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


def test_too_many_clients_is_refused():
    with pytest.raises(ValueError, match="cannot give"):
        partition({"type": "iid"}, num_clients=5000)


def test_unknown_partitioner_names_the_path():
    with pytest.raises(ConfigError, match="dataset.partition.type"):
        partition({"type": "round_robin"})


def test_split_train_test_keeps_a_train_example():
    train, test = split_train_test(np.arange(3), 0.9, np.random.default_rng(0))
    assert len(train) == 1 and len(test) == 2
