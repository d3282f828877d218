"""`tff.aggregators.clipping_factory`, `zeroing_factory` and
`PrivateQuantileEstimationProcess.no_noise`, written as TFF programs call them."""

import math

import numpy as np
import pytest
import tensorflow as tf

import fedrun.compat.tff as tff
from tests.compat.tff.aggregators.processes import run_rounds

VALUE_TYPE = tff.TensorType(tf.float32, [2])
WEIGHT_TYPE = tff.TensorType(tf.float32)
# L2 norms 5.0, 0.5, 2.0.
CLIENT_VALUES = [[3.0, 4.0], [0.3, 0.4], [0.0, 2.0]]


# ------------------------------------------------------------------ types
@pytest.mark.parametrize(
    "inner, weighted",
    [(tff.aggregators.SumFactory(), False), (tff.aggregators.MeanFactory(), True)],
    ids=["sum-inside", "mean-inside"],
)
@pytest.mark.parametrize(
    "make",
    [tff.aggregators.clipping_factory, tff.aggregators.zeroing_factory],
    ids=["clipping", "zeroing"],
)
def test_weightedness_follows_the_inner_factory(make, inner, weighted):
    factory = make(1.0, inner)
    assert isinstance(factory, tff.aggregators.UnweightedAggregationFactory)
    assert isinstance(factory, tff.aggregators.WeightedAggregationFactory) == weighted


def test_clipping_signature_nests_the_inner_state_and_measurements():
    process = tff.aggregators.clipping_factory(1.0, tff.aggregators.MeanFactory()).create(
        VALUE_TYPE, WEIGHT_TYPE
    )
    assert str(process.initialize.type_signature) == (
        "( -> <clipping_norm=<>,inner=<value_sum_process=<>,weight_sum_process=<>>>@SERVER)"
    )
    assert str(process.next.type_signature.result["measurements"]) == (
        "<clipping_norm=float32,clipped_count=int32,clipping=<mean_value=<>,mean_weight=<>>>@SERVER"
    )


def test_adaptive_norm_keeps_its_estimate_in_the_state():
    norm = tff.aggregators.PrivateQuantileEstimationProcess.no_noise(
        initial_estimate=1.0, target_quantile=0.5, learning_rate=0.2
    )
    process = tff.aggregators.zeroing_factory(norm, tff.aggregators.SumFactory()).create(VALUE_TYPE)
    assert (
        str(process.initialize.type_signature)
        == "( -> <zeroing_norm=<estimate=float32>,inner=<>>@SERVER)"
    )


# ---------------------------------------------------------------- clipping
def test_clipping_bounds_each_client_before_the_sum():
    process = tff.aggregators.clipping_factory(1.0, tff.aggregators.SumFactory()).create(VALUE_TYPE)
    output = process.next(process.initialize(), CLIENT_VALUES)
    np.testing.assert_allclose(output.result, [0.6 + 0.3 + 0.0, 0.8 + 0.4 + 1.0], rtol=1e-6)
    assert output.measurements["clipped_count"] == 2 and output.measurements["clipping_norm"] == 1.0


def test_clipping_as_value_sum_of_the_mean_clips_weighted_values():
    clipped_mean = tff.aggregators.MeanFactory(
        value_sum_factory=tff.aggregators.clipping_factory(1.0, tff.aggregators.SumFactory())
    )
    process = clipped_mean.create(VALUE_TYPE, WEIGHT_TYPE)
    output = process.next(process.initialize(), CLIENT_VALUES, [1.0, 1.5, 1.0])
    # Weighted values [3, 4], [0.45, 0.6], [0, 2] are clipped to [0.6, 0.8], [0.45, 0.6], [0, 1].
    np.testing.assert_allclose(output.result, [1.05 / 3.5, 2.4 / 3.5], rtol=1e-6)
    assert output.measurements["mean_value"]["clipped_count"] == 2


def test_adaptive_clipping_moves_towards_the_quantile():
    norm = tff.aggregators.PrivateQuantileEstimationProcess.no_noise(
        initial_estimate=1.0, target_quantile=0.5, learning_rate=0.2
    )
    process = tff.aggregators.clipping_factory(norm, tff.aggregators.SumFactory()).create(
        VALUE_TYPE
    )
    first, second = run_rounds(process, 2, CLIENT_VALUES)
    assert first.measurements["clipping_norm"] == 1.0
    # One client of three (norm 0.5) is under the estimate 1.0: it grows by exp(-0.2 * (1/3 - 0.5)).
    assert second.measurements["clipping_norm"] == pytest.approx(math.exp(0.2 / 6), rel=1e-6)


# ----------------------------------------------------------------- zeroing
@pytest.mark.parametrize(
    "norm_order, kept",
    [(None, [0, 1, 2]), (math.inf, [0, 1, 2]), (2.0, [0, 2]), (1.0, [2])],
    ids=["default-is-max-norm", "max-norm", "l2", "l1"],
)
def test_zeroing_compares_the_chosen_norm(norm_order, kept):
    # Max norms 0.8, 0.9, 0.5; L2 norms 1.0, 1.27, 0.5; L1 norms 1.4, 1.8, 0.5; the bound is 1.1.
    values = [[0.6, 0.8], [0.9, 0.9], [0.5, 0.0]]
    extra = {} if norm_order is None else {"norm_order": norm_order}
    process = tff.aggregators.zeroing_factory(1.1, tff.aggregators.SumFactory(), **extra).create(
        VALUE_TYPE
    )
    output = process.next(process.initialize(), values)
    np.testing.assert_allclose(output.result, np.sum([values[i] for i in kept], axis=0), rtol=1e-6)
    assert output.measurements["zeroed_count"] == 3 - len(kept)


def test_zeroed_client_keeps_its_weight_in_the_mean():
    process = tff.aggregators.zeroing_factory(
        2.0, tff.aggregators.MeanFactory(), norm_order=2.0
    ).create(VALUE_TYPE, WEIGHT_TYPE)
    output = process.next(process.initialize(), CLIENT_VALUES, [1.0, 1.0, 2.0])
    np.testing.assert_allclose(output.result, [(0.3 + 0.0) / 4.0, (0.4 + 4.0) / 4.0], rtol=1e-6)
    assert output.measurements["zeroing_norm"] == 2.0 and output.measurements["zeroed_count"] == 1


def test_adaptive_zeroing_reports_the_affine_bound():
    norm = tff.aggregators.PrivateQuantileEstimationProcess.no_noise(
        initial_estimate=1.0,
        target_quantile=0.98,
        learning_rate=math.log(10.0),
        multiplier=2.0,
        increment=1.0,
    )
    zeroing_mean = tff.aggregators.MeanFactory(
        value_sum_factory=tff.aggregators.zeroing_factory(norm, tff.aggregators.SumFactory())
    )
    process = zeroing_mean.create(VALUE_TYPE, WEIGHT_TYPE)
    first, second = run_rounds(process, 2, CLIENT_VALUES, [1.0, 1.0, 1.0])
    assert (
        first.measurements["mean_value"]["zeroing_norm"] == 3.0
        and first.measurements["mean_value"]["zeroed_count"] == 1
    )
    estimate = math.exp(-math.log(10.0) * (1 / 3 - 0.98))  # max norms 4.0, 0.4, 2.0: one under 1.0
    assert second.measurements["mean_value"]["zeroing_norm"] == pytest.approx(
        2 * estimate + 1, rel=1e-5
    )


# ------------------------------------------------------ what is not honoured
def test_unsupported_arguments_name_the_fedrun_way():
    no_noise = tff.aggregators.PrivateQuantileEstimationProcess.no_noise
    with pytest.raises(tff.UnsupportedError, match="secure_estimation=False"):
        no_noise(1.0, 0.5, 0.2, secure_estimation=True)
    with pytest.raises(tff.UnsupportedError, match="no_noise"):
        tff.aggregators.PrivateQuantileEstimationProcess(object())
    with pytest.raises(tff.UnsupportedError, match="inside the aggregator"):
        no_noise(1.0, 0.5, 0.2).report
    with pytest.raises(tff.UnsupportedError, match="clipped_count_sum_factory"):
        tff.aggregators.clipping_factory(
            1.0, tff.aggregators.SumFactory(), tff.aggregators.SecureSumFactory(1.0)
        )


def test_custom_estimation_process_is_refused():
    class HalvingEstimate:
        def initialize(self):
            return 1.0

        def next(self, state, norms):
            return state / 2

        def report(self, state):
            return state

    with pytest.raises(tff.UnsupportedError, match="PrivateQuantileEstimationProcess.no_noise"):
        tff.aggregators.zeroing_factory(HalvingEstimate(), tff.aggregators.SumFactory())


@pytest.mark.parametrize(
    "call, error, message",
    [
        (
            lambda: tff.aggregators.clipping_factory(0.0, tff.aggregators.SumFactory()),
            ValueError,
            "clipping_norm=0.0: must be positive",
        ),
        (
            lambda: tff.aggregators.zeroing_factory(
                1.0, tff.aggregators.SumFactory(), norm_order=3.0
            ),
            ValueError,
            "norm_order",
        ),
        (
            lambda: tff.aggregators.PrivateQuantileEstimationProcess.no_noise(1.0, 1.5, 0.2),
            ValueError,
            "target_quantile",
        ),
        (
            lambda: tff.aggregators.clipping_factory("1.0", tff.aggregators.SumFactory()),
            TypeError,
            "must be a number",
        ),
    ],
    ids=["non-positive-norm", "norm-order", "quantile-above-one", "norm-not-a-number"],
)
def test_bad_arguments(call, error, message):
    with pytest.raises(error, match=message):
        call()
