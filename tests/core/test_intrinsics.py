"""The intrinsics: placement rules and arithmetic."""

import numpy as np
import pytest
import tensorflow as tf

from fedrun.core import intrinsics
from fedrun.core.placements import CLIENTS, SERVER, AtClients, AtServer


def per_client_double(x):
    return x * 2.0


def scale(value, factor):
    return tf.nest.map_structure(lambda v: v * factor, value)


def test_broadcast_is_all_equal_and_not_copied():
    out = intrinsics.broadcast(AtServer(tf.constant([1.0, 2.0])), 3)
    assert out.all_equal and out.num_clients == 3
    assert out.stacked().shape == (3, 2)


def test_map_at_clients_vectorizes_a_one_client_function():
    out = intrinsics.map(per_client_double, AtClients(tf.constant([1.0, 2.0, 5.0]), 3))
    np.testing.assert_allclose(out.value.numpy(), [2.0, 4.0, 10.0])


def test_map_with_broadcast_argument():
    values = AtClients([tf.constant([[1.0, 2.0], [3.0, 4.0]])], 2)
    factor = intrinsics.broadcast(AtServer(tf.constant(3.0)), 2)
    out = intrinsics.map(scale, (values, factor))
    np.testing.assert_allclose(out.value[0].numpy(), [[3.0, 6.0], [9.0, 12.0]])


def test_map_at_server_applies_once():
    assert float(intrinsics.map(per_client_double, AtServer(tf.constant(4.0))).value) == 8.0


def test_sum_mean_and_weighted_mean():
    values = AtClients({"a": tf.constant([1.0, 2.0, 5.0])}, 3)
    assert float(intrinsics.sum(values).value["a"]) == 8.0
    assert float(intrinsics.mean(values).value["a"]) == pytest.approx(8.0 / 3)
    weights = AtClients(tf.constant([1.0, 1.0, 2.0]), 3)
    assert float(intrinsics.mean(values, weights).value["a"]) == pytest.approx(13.0 / 4)


def test_sum_of_broadcast_multiplies_by_cohort_size():
    assert float(intrinsics.sum(intrinsics.broadcast(AtServer(tf.constant(2.0)), 4)).value) == 8.0


@pytest.mark.parametrize(
    "bitwidth, clients", [(4, 3), (8, 1000), (62, 3)], ids=["small", "many-clients", "wide"]
)
def test_secure_sum_is_modular(bitwidth, clients):
    rng = np.random.default_rng(0)
    ints = rng.integers(0, 2 ** min(bitwidth, 40), size=(clients, 5), dtype=np.int64)
    out = intrinsics.secure_sum(AtClients(tf.constant(ints), clients), bitwidth).value.numpy()
    expected = [int(sum(int(v) for v in ints[:, j]) % 2**bitwidth) for j in range(5)]
    assert out.tolist() == expected


def test_secure_sum_rejects_bitwidth_out_of_range():
    with pytest.raises(ValueError, match="bitwidth"):
        intrinsics.secure_sum(AtClients(tf.constant([1]), 1), 63)


def test_client_values_only_cross_through_aggregation():
    with pytest.raises(TypeError, match="CLIENTS"):
        intrinsics.sum(AtServer(tf.constant(1.0)))
    with pytest.raises(TypeError, match="SERVER"):
        intrinsics.broadcast(AtClients(tf.constant([1.0]), 1), 1)
    with pytest.raises(TypeError, match="one placement"):
        intrinsics.map(scale, (AtClients(tf.constant([1.0]), 1), AtServer(tf.constant(1.0))))


def test_collect_reveals_stacked_values_at_server():
    out = intrinsics.collect(AtClients(tf.constant([[1.0], [2.0]]), 2))
    assert out.placement == SERVER and out.value.shape == (2, 1)
    assert intrinsics.value(1.0, CLIENTS, 2).all_equal


def test_select_keeps_masked_clients():
    values = AtClients(tf.constant([1.0, 2.0, 3.0]), 3)
    kept = values.select([True, False, True])
    assert kept.num_clients == 2 and kept.value.numpy().tolist() == [1.0, 3.0]
