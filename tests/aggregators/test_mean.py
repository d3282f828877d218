"""The mean, weighted and unweighted, with its sums delegated to inner factories."""

import numpy as np
import pytest
import tensorflow as tf

from fedrun.aggregators.clipping import ClippingFactory
from fedrun.aggregators.mean import MeanFactory
from fedrun.aggregators.sum import SumFactory
from fedrun.core.placements import AtClients

VALUES = AtClients(tf.constant([[1.0, 2.0], [3.0, 6.0]]), 2)
WEIGHTS = AtClients(tf.constant([1.0, 3.0]), 2)


def test_signatures():
    weighted = MeanFactory().create(tf.TensorSpec([2]), tf.TensorSpec([]))
    assert (
        str(weighted.initialize.type_signature)
        == "( -> <value_sum_process=<>,weight_sum_process=<>>@SERVER)"
    )
    assert "measurements=<mean_value=<>,mean_weight=<>>@SERVER" in str(weighted.next.type_signature)
    assert "weight=" not in str(MeanFactory().create(tf.TensorSpec([2])).next.type_signature)


def test_weighted_mean():
    process = MeanFactory().create(tf.TensorSpec([2]), tf.TensorSpec([]))
    output = process.next(process.initialize(), VALUES, WEIGHTS)
    np.testing.assert_allclose(output.result.value.numpy(), [(1 + 9) / 4, (2 + 18) / 4])


def test_unweighted_mean():
    process = MeanFactory().create(tf.TensorSpec([2]))
    np.testing.assert_allclose(
        process.next(process.initialize(), VALUES).result.value.numpy(), [2.0, 4.0]
    )


@pytest.mark.parametrize(
    "no_nan, expected", [(True, [0.0, 0.0]), (False, [np.nan, np.nan])], ids=["no-nan", "nan"]
)
def test_zero_total_weight(no_nan, expected):
    process = MeanFactory(no_nan_division=no_nan).create(tf.TensorSpec([2]), tf.TensorSpec([]))
    output = process.next(process.initialize(), VALUES, AtClients(tf.zeros([2]), 2))
    np.testing.assert_array_equal(output.result.value.numpy(), expected)


def test_inner_sums_see_weighted_values_and_nest_their_measurements():
    # value_sum clips the *weighted* values: (1, 2) * 1 stays, (3, 6) * 3 has norm ~20.1 -> 5.
    process = MeanFactory(ClippingFactory(5.0, SumFactory())).create(
        tf.TensorSpec([2]), tf.TensorSpec([])
    )
    output = process.next(process.initialize(), VALUES, WEIGHTS)
    clipped = np.array([9.0, 18.0]) * 5.0 / np.linalg.norm([9.0, 18.0])
    np.testing.assert_allclose(
        output.result.value.numpy(), (np.array([1.0, 2.0]) + clipped) / 4, rtol=1e-6
    )
    assert int(output.measurements["mean_value"]["clipped_count"]) == 1
    assert output.measurements["mean_weight"] == ()
