"""ClientStateStore: zeros for new clients, rows per client id, plain-array checkpoints."""

import io

import numpy as np
import pytest
import tensorflow as tf

from fedrun.learning.client_states import ClientStateStore

SPECS = [tf.TensorSpec([2, 3], tf.float32), tf.TensorSpec([3], tf.float32)]


def stacked(values):
    return [
        tf.constant(np.stack([v[0] for v in values])),
        tf.constant(np.stack([v[1] for v in values])),
    ]


def state_of(seed):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(2, 3)).astype(np.float32), rng.normal(size=(3,)).astype(np.float32)


def test_unseen_clients_get_zeros_stacked_in_cohort_order():
    store = ClientStateStore(SPECS)
    store.put(["x"], stacked([state_of(1)]))
    got = store.get(["new", "x"])
    assert [tuple(t.shape) for t in got] == [(2, 2, 3), (2, 3)]
    np.testing.assert_array_equal(got[0][0].numpy(), np.zeros((2, 3)))
    np.testing.assert_array_equal(got[0][1].numpy(), state_of(1)[0])
    assert "new" not in store and len(store) == 1


def test_put_replaces_and_grows_past_initial_capacity():
    store = ClientStateStore(SPECS)
    ids = [f"c{i}" for i in range(20)]
    for start in range(0, 20, 5):
        store.put(ids[start : start + 5], stacked([state_of(i) for i in range(start, start + 5)]))
    store.put(["c3"], stacked([state_of(99)]))
    got = store.get(ids)
    for i, cid in enumerate(ids):
        np.testing.assert_array_equal(got[1][i].numpy(), state_of(99 if cid == "c3" else i)[1])
    assert store.client_ids == ids


def test_state_dict_round_trips_through_npz_without_pickle():
    store = ClientStateStore(SPECS)
    store.put(["a", "b"], stacked([state_of(1), state_of(2)]))
    buffer = io.BytesIO()
    np.savez(buffer, **store.state_dict())
    buffer.seek(0)
    with np.load(buffer, allow_pickle=False) as loaded:
        restored = ClientStateStore(SPECS)
        restored.load_state_dict(dict(loaded))
    assert restored.client_ids == ["a", "b"]
    for got, want in zip(restored.get(["b", "a"]), store.get(["b", "a"])):
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    restored.put(["c"], stacked([state_of(3)]))  # a restored store keeps growing
    np.testing.assert_array_equal(restored.get(["c"])[1][0].numpy(), state_of(3)[1])


@pytest.mark.parametrize(
    "ids, values, message",
    [
        (["a", "a"], stacked([state_of(1), state_of(2)]), "twice"),
        (["a"], stacked([state_of(1), state_of(2)]), "shape"),
        (["a"], [tf.zeros([1, 2, 3])], "leaves"),
    ],
    ids=["duplicate-id", "wrong-count", "missing-leaf"],
)
def test_put_refuses_inconsistent_rows(ids, values, message):
    with pytest.raises(ValueError, match=message):
        ClientStateStore(SPECS).put(ids, values)
