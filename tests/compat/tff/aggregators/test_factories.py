"""`tff.aggregators`: fedrun-backed factories, and TFF-style factories inside fedrun code."""

import numpy as np
import pytest
import tensorflow as tf

import fedrun.compat.tff as tff
from fedrun.aggregators import factory as native_factory
from fedrun.aggregators.mean import MeanFactory as NativeMeanFactory
from fedrun.aggregators.sum import SumFactory as NativeSumFactory
from fedrun.compat.tff.aggregators import as_native
from fedrun.core.placements import AtClients


class DoublingSumFactory(tff.aggregators.UnweightedAggregationFactory):
    """Sums twice each value; counts its rounds in the state."""

    def create(self, value_type):
        @tff.federated_computation()
        def initialize_fn():
            return tff.federated_value(0, tff.SERVER)

        @tff.federated_computation(
            initialize_fn.type_signature.result, tff.type_at_clients(value_type)
        )
        def next_fn(state, value):
            doubled = tff.federated_map(
                tff.tf_computation(lambda v: tf.nest.map_structure(lambda x: 2.0 * x, v)), value
            )
            rounds = tff.federated_map(tff.tf_computation(lambda n: n + 1), state)
            return tff.templates.MeasuredProcessOutput(
                state=rounds, result=tff.federated_sum(doubled), measurements=rounds
            )

        return tff.templates.AggregationProcess(initialize_fn, next_fn)


def test_sum_factory_prints_and_sums():
    process = tff.aggregators.SumFactory().create(tff.TensorType(tf.float32, [2]))
    assert str(process.initialize.type_signature) == "( -> <>@SERVER)"
    assert str(process.next.type_signature) == (
        "(<state=<>@SERVER,value={float32[2]}@CLIENTS> -> <state=<>@SERVER,result=float32[2]@SERVER,measurements=<>@SERVER>)"
    )
    output = process.next(process.initialize(), [[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_allclose(output.result, [4.0, 6.0])


def test_mean_factory_is_weighted_and_unweighted():
    factory = tff.aggregators.MeanFactory()
    weighted = factory.create(tff.TensorType(tf.float32), tff.TensorType(tf.float32))
    assert weighted.is_weighted
    assert (
        str(weighted.initialize.type_signature)
        == "( -> <value_sum_process=<>,weight_sum_process=<>>@SERVER)"
    )
    output = weighted.next(weighted.initialize(), [1.0, 4.0], [3.0, 1.0])
    np.testing.assert_allclose(output.result, 7.0 / 4.0)
    unweighted = factory.create(tff.TensorType(tf.float32))
    assert not unweighted.is_weighted
    np.testing.assert_allclose(unweighted.next(unweighted.initialize(), [1.0, 4.0]).result, 2.5)


def test_sum_factory_refuses_a_weight():
    with pytest.raises(TypeError, match="unweighted"):
        tff.aggregators.SumFactory().create(tff.TensorType(tf.float32), tff.TensorType(tf.float32))


def test_as_native_passes_unwraps_and_adapts():
    native_sum = NativeSumFactory()
    assert as_native(native_sum) is native_sum
    assert isinstance(as_native(tff.aggregators.MeanFactory()), NativeMeanFactory)
    adapted = as_native(DoublingSumFactory())
    assert native_factory.supports_unweighted(adapted) and not native_factory.supports_weighted(
        adapted
    )
    assert as_native(None) is None


def test_tff_style_factory_runs_inside_fedrun_code():
    """fedrun's mean calls the adapted factory with stacked values and plain state."""
    spec = [tf.TensorSpec([2], tf.float32), tf.TensorSpec([], tf.float32)]
    process = NativeMeanFactory(value_sum_factory=as_native(DoublingSumFactory())).create(
        spec, tf.TensorSpec([], tf.float32)
    )
    values = AtClients([tf.constant([[1.0, 1.0], [3.0, 5.0]]), tf.constant([2.0, 4.0])], 2)
    weights = AtClients(tf.constant([1.0, 3.0]), 2)
    state = process.initialize()
    for expected_rounds in (1, 2):
        output = process.next(state, values, weights)
        state = output.state
        assert int(state["value_sum_process"]) == expected_rounds
    np.testing.assert_allclose(output.result.value[0], 2.0 * np.array([10.0, 16.0]) / 4.0)
    np.testing.assert_allclose(output.result.value[1], 2.0 * 14.0 / 4.0)
    assert int(output.measurements["mean_value"]) == 2
