"""L2 norm clipping around an inner factory: fixed and adaptive bounds."""

import math

import numpy as np
import pytest
import tensorflow as tf

from fedrun.aggregators.clipping import ClippingFactory, ClippingState
from fedrun.aggregators.mean import MeanFactory
from fedrun.aggregators.norms import AdaptiveNormParams
from fedrun.aggregators.sum import SumFactory
from fedrun.core.placements import AtClients

VALUES = AtClients(tf.constant([[3.0, 4.0], [0.3, 0.4], [0.0, 0.0]]), 3)  # norms 5, 0.5, 0


# --- shape and type ---------------------------------------------------------------------


def test_adaptive_state_and_measurement_types():
    process = ClippingFactory(AdaptiveNormParams(), SumFactory()).create(tf.TensorSpec([2]))
    assert isinstance(process.initialize(), ClippingState)
    assert str(process.next.type_signature) == (
        "(<state=<clipping_norm=<estimate=float32>,inner=<>>@SERVER,value={float32[2]}@CLIENTS> -> "
        "<state=<clipping_norm=<estimate=float32>,inner=<>>@SERVER,result=float32[2]@SERVER,"
        "measurements=<clipping_norm=float32,clipped_count=int32,clipping=<>>@SERVER>)"
    )


def test_weighted_signature_nests_mean_state():
    process = ClippingFactory(1.0, MeanFactory()).create(tf.TensorSpec([2]), tf.TensorSpec([]))
    assert (
        str(process.initialize.type_signature)
        == "( -> <clipping_norm=<>,inner=<value_sum_process=<>,weight_sum_process=<>>>@SERVER)"
    )
    assert "weight={float32}@CLIENTS" in str(process.next.type_signature)


# --- numbers --------------------------------------------------------------------------


def test_fixed_clipping_of_a_sum():
    process = ClippingFactory(1.0, SumFactory()).create(tf.TensorSpec([2]))
    output = process.next(process.initialize(), VALUES)
    np.testing.assert_allclose(output.result.value.numpy(), [0.6 + 0.3, 0.8 + 0.4], rtol=1e-6)
    assert int(output.measurements["clipped_count"]) == 1
    assert float(output.measurements["clipping_norm"]) == 1.0


def test_clips_before_weighting_around_a_weighted_mean():
    process = ClippingFactory(1.0, MeanFactory()).create(tf.TensorSpec([2]), tf.TensorSpec([]))
    output = process.next(process.initialize(), VALUES, AtClients(tf.constant([1.0, 3.0, 4.0]), 3))
    np.testing.assert_allclose(
        output.result.value.numpy(), [(0.6 + 0.9) / 8, (0.8 + 1.2) / 8], rtol=1e-6
    )


def test_norm_spans_every_leaf_of_the_nest():
    values = AtClients({"a": tf.constant([[3.0]]), "b": tf.constant([[4.0]])}, 1)
    spec = {"a": tf.TensorSpec([1]), "b": tf.TensorSpec([1])}
    process = ClippingFactory(1.0, SumFactory()).create(spec)
    output = process.next(process.initialize(), values)
    np.testing.assert_allclose(
        [output.result.value["a"].numpy()[0], output.result.value["b"].numpy()[0]],
        [0.6, 0.8],
        rtol=1e-6,
    )


def test_adaptive_norm_tracks_the_quantile():
    params = AdaptiveNormParams(target_quantile=0.5, learning_rate=0.2, initial_norm=0.1)
    process = ClippingFactory(params, SumFactory()).create(tf.TensorSpec([2]))
    state, bounds, expected = process.initialize(), [], []
    bound = 0.1
    for _ in range(3):
        output = process.next(state, VALUES)
        state = output.state
        bounds.append(float(output.measurements["clipping_norm"]))
        expected.append(bound)
        under = sum(n <= bound for n in (5.0, 0.5, 0.0)) / 3
        bound *= math.exp(-0.2 * (under - 0.5))
    assert bounds == pytest.approx(expected, rel=1e-6)
    assert float(state.clipping_norm.estimate) == pytest.approx(bound, rel=1e-6)


@pytest.mark.parametrize("norm", [0.0, -1.0], ids=["zero", "negative"])
def test_rejects_non_positive_norm(norm):
    with pytest.raises(ValueError, match="positive"):
        ClippingFactory(norm, SumFactory())
