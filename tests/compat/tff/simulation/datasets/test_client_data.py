"""`tff.simulation.datasets.ClientData`."""

import collections

import numpy as np
import pytest
import tensorflow as tf

import fedrun.compat.tff as tff
from fedrun.data.client_data import ArrayClientData


def dataset_fn(client_id):
    n = int(client_id[1:])
    return tf.data.Dataset.from_tensor_slices(
        collections.OrderedDict(label=np.full(n, n, np.int32), pixels=np.zeros((n, 2), np.float32))
    )


@pytest.fixture(scope="module")
def client_data():
    return tff.simulation.datasets.ClientData.from_clients_and_tf_fn(["c1", "c2", "c3"], dataset_fn)


def test_clients_and_element_structure(client_data):
    assert client_data.client_ids == ["c1", "c2", "c3"]
    assert list(client_data.element_type_structure) == ["label", "pixels"]
    assert [int(e["label"]) for e in client_data.create_tf_dataset_for_client("c2")] == [2, 2]


def test_unknown_client_is_refused(client_data):
    with pytest.raises(ValueError, match="unknown client"):
        client_data.create_tf_dataset_for_client("c9")


def test_all_clients_and_preprocess(client_data):
    assert len(list(client_data.create_tf_dataset_from_all_clients(seed=0))) == 6
    batched = client_data.preprocess(lambda d: d.batch(10))
    assert [len(b["label"]) for b in batched.create_tf_dataset_for_client("c3")] == [3]
    assert sum(1 for _ in client_data.datasets(limit_count=2, seed=1)) == 2


def test_fedrun_client_data_with_tff_names():
    native = ArrayClientData(
        {"x": np.ones((3, 2), np.float32), "y": np.arange(3, dtype=np.int32)},
        {"a": [0, 1], "b": [2]},
    )
    data = tff.simulation.datasets.ClientData.from_fedrun(native, {"y": "label", "x": "pixels"})
    assert list(data.element_type_structure) == ["label", "pixels"]
    assert [int(e["label"]) for e in data.create_tf_dataset_for_client("b")] == [2]


def test_test_client_data_holds_each_clients_slices():
    data = tff.simulation.datasets.TestClientData(
        {"a": {"x": np.arange(3)}, "b": {"x": np.arange(2) + 10}}
    )
    assert data.client_ids == ["a", "b"]
    assert [int(e["x"]) for e in data.create_tf_dataset_for_client("b")] == [10, 11]
    with pytest.raises(TypeError, match="numpy data, not tensors"):
        tff.simulation.datasets.TestClientData({"a": [tf.constant([1])]})


def test_train_test_client_split_takes_test_clients_as_tff_does():
    slices = {f"c{i}": {"x": np.arange(i)} for i in range(6)}  # c0 holds no data
    data = tff.simulation.datasets.TestClientData(slices)
    train, test = tff.simulation.datasets.train_test_client_split(data, 2, seed=3)
    shuffled = list(slices)
    np.random.RandomState(3).shuffle(shuffled)
    with_data = [c for c in reversed(shuffled) if c != "c0"]
    assert test.client_ids == with_data[:2]
    assert sorted(train.client_ids + test.client_ids) == sorted(slices)
    with pytest.raises(ValueError, match=r"num_test_clients must lie in \[1, 5\]"):
        tff.simulation.datasets.train_test_client_split(data, 6)
