"""Zeroing of client values whose norm exceeds a fixed or adaptive bound."""

import math

import numpy as np
import pytest
import tensorflow as tf

from fedrun.aggregators.build import AggregatorContext, build_aggregator
from fedrun.aggregators.mean import MeanFactory
from fedrun.aggregators.sum import SumFactory
from fedrun.aggregators.zeroing import ZeroingAdaptiveParams, ZeroingFactory, ZeroingState
from fedrun.config.errors import ConfigError
from fedrun.core.placements import AtClients

VALUES = AtClients(tf.constant([[3.0, 4.0], [0.3, 0.4], [float("nan"), 0.0]]), 3)


def test_state_and_measurement_types():
    process = ZeroingFactory(ZeroingAdaptiveParams(), SumFactory()).create(tf.TensorSpec([2]))
    assert isinstance(process.initialize(), ZeroingState)
    assert "measurements=<zeroing_norm=float32,zeroed_count=int32,zeroing=<>>@SERVER" in str(
        process.next.type_signature
    )


def test_zeroes_large_and_non_finite_values():
    process = ZeroingFactory(2.0, SumFactory()).create(tf.TensorSpec([2]))
    output = process.next(process.initialize(), VALUES)
    np.testing.assert_allclose(output.result.value.numpy(), [0.3, 0.4], rtol=1e-6)
    assert int(output.measurements["zeroed_count"]) == 2


def test_zeroed_client_keeps_its_weight():
    process = ZeroingFactory(2.0, MeanFactory()).create(tf.TensorSpec([2]), tf.TensorSpec([]))
    values = AtClients(tf.constant([[3.0, 4.0], [0.3, 0.4]]), 2)
    output = process.next(process.initialize(), values, AtClients(tf.constant([1.0, 1.0]), 2))
    np.testing.assert_allclose(output.result.value.numpy(), [0.15, 0.2], rtol=1e-6)


def test_adaptive_bound_is_affine_in_a_high_quantile():
    params = ZeroingAdaptiveParams()
    assert (params.target_quantile, params.initial_norm, params.multiplier, params.increment) == (
        0.98,
        10.0,
        2.0,
        1.0,
    )
    process = ZeroingFactory(params, SumFactory()).create(tf.TensorSpec([2]))
    first = process.next(process.initialize(), VALUES)
    assert float(first.measurements["zeroing_norm"]) == pytest.approx(21.0)
    # Two of three norms (5, 0.5; NaN is not under) are under the estimate 10.
    estimate = 10.0 * math.exp(-math.log(10.0) * (2 / 3 - 0.98))
    second = process.next(first.state, VALUES)
    assert float(second.measurements["zeroing_norm"]) == pytest.approx(2 * estimate + 1, rel=1e-5)


@pytest.mark.parametrize(
    "norm_order, zeroed",
    [(1.0, [True, True, False]), (2.0, [True, False, False]), (math.inf, [False, False, False])],
    ids=["l1", "l2", "max"],
)
def test_norm_order_chooses_the_norm(norm_order, zeroed):
    # Norms of [0.6, 0.8]: L1 1.4, L2 1.0, max 0.8; of [0.5, 0.5]: 1.0, 0.71, 0.5; of [0.9, 0]: 0.9 in all.
    values = AtClients(tf.constant([[0.6, 0.8], [0.5, 0.5], [0.9, 0.0]]), 3)
    process = ZeroingFactory(0.95, SumFactory(), norm_order=norm_order).create(tf.TensorSpec([2]))
    output = process.next(process.initialize(), values)
    kept = np.array([[0.6, 0.8], [0.5, 0.5], [0.9, 0.0]])[[not z for z in zeroed]]
    np.testing.assert_allclose(output.result.value.numpy(), kept.sum(axis=0), rtol=1e-6)
    assert int(output.measurements["zeroed_count"]) == sum(zeroed)


@pytest.mark.parametrize("norm_order", [1.0, math.inf], ids=["l1", "max"])
def test_every_norm_zeroes_nan_values(norm_order):
    process = ZeroingFactory(100.0, SumFactory(), norm_order=norm_order).create(tf.TensorSpec([2]))
    output = process.next(process.initialize(), VALUES)
    np.testing.assert_allclose(output.result.value.numpy(), [3.3, 4.4], rtol=1e-6)
    assert int(output.measurements["zeroed_count"]) == 1


def test_norm_order_from_yaml():
    node = {"type": "zeroing", "norm": 0.95, "norm_order": float("inf"), "inner": {"type": "sum"}}
    factory = build_aggregator(node, "aggregator", False, (), AggregatorContext())
    assert factory.norm_order == math.inf
    with pytest.raises(ConfigError, match="aggregator.norm_order"):
        build_aggregator({**node, "norm_order": 3.0}, "aggregator", False, (), AggregatorContext())
    with pytest.raises(ValueError, match="norm_order must be 1, 2 or infinity"):
        ZeroingFactory(1.0, SumFactory(), norm_order=0.5)
