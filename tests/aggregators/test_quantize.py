"""Uniform stochastic k-bit quantization: exact at the range ends, unbiased, bits counted."""

import numpy as np
import pytest
import tensorflow as tf

from fedrun.aggregators.factory import supports_unweighted, supports_weighted
from fedrun.aggregators.mean import MeanFactory
from fedrun.aggregators.quantize import QuantizeFactory, QuantizeState, bits_per_client
from fedrun.aggregators.sum import SumFactory
from fedrun.core.placements import AtClients

SPEC = [tf.TensorSpec([3, 4], tf.float32), tf.TensorSpec([4], tf.float32)]


def test_weightedness_follows_inner_and_state_type():
    around_sum = QuantizeFactory(8, SumFactory())
    assert supports_unweighted(around_sum) and not supports_weighted(around_sum)
    process = QuantizeFactory(8, MeanFactory()).create(SPEC, tf.TensorSpec([]))
    assert isinstance(process.initialize(), QuantizeState)
    assert "measurements=<bits_sent=int64,quantize=<mean_value=<>,mean_weight=<>>>" in str(
        process.next.type_signature
    )


def test_bits_sent():
    assert bits_per_client(SPEC, 4) == (12 * 4 + 64) + (4 * 4 + 64)
    values = AtClients([tf.zeros([5, 3, 4]), tf.zeros([5, 4])], 5)
    process = QuantizeFactory(4, SumFactory()).create(SPEC)
    assert int(
        process.next(process.initialize(), values).measurements["bits_sent"]
    ) == 5 * bits_per_client(SPEC, 4)


def test_one_bit_is_exact_on_two_valued_tensors():
    values = AtClients(tf.constant([[-2.0, 3.0, 3.0, -2.0], [1.0, 1.0, 0.5, 0.5]]), 2)
    process = QuantizeFactory(1, SumFactory()).create(tf.TensorSpec([4]))
    output = process.next(process.initialize(), values)
    np.testing.assert_allclose(output.result.value.numpy(), [-1.0, 4.0, 3.5, -1.5], rtol=1e-6)


def test_error_within_one_step_and_unbiased_over_rounds():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1, 500)).astype(np.float32)
    values = AtClients(tf.constant(x), 1)
    process = QuantizeFactory(3, SumFactory()).create(tf.TensorSpec([500]))
    step = (x.max() - x.min()) / 7
    state, received = process.initialize(), []
    for _ in range(200):
        output = process.next(state, values)
        state = output.state
        received.append(output.result.value.numpy())
    received = np.array(received)
    assert np.all(np.abs(received - x[0]) <= step * (1 + 1e-5))
    # Averages over 200 independent roundings: standard error at most step / (2 sqrt(200)).
    assert np.all(np.abs(received.mean(axis=0) - x[0]) < 5 * step / (2 * np.sqrt(200)))


@pytest.mark.parametrize("bits", [0, 25], ids=["zero", "too-many"])
def test_rejects_bits_out_of_range(bits):
    with pytest.raises(ValueError, match="bits"):
        QuantizeFactory(bits, SumFactory())
