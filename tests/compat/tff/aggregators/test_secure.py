"""`tff.aggregators.SecureSumFactory`, alone and as the value sum of a mean
(`MeanFactory(value_sum_factory=SecureSumFactory(...))`, as the aggregation
tutorial composes it)."""

import numpy as np
import pytest
import tensorflow as tf

import fedrun.compat.tff as tff
from tests.compat.tff.aggregators.processes import run_rounds

VALUE_TYPE = tff.TensorType(tf.float32, [3])
CLIENT_VALUES = [[0.1, -0.7, 0.25], [0.9, 0.3, -0.5], [-0.2, 0.05, 0.6]]
LEVELS = 2**32 - 1  # TFF's 32-bit quantization of each client's value


def assert_within_quantization_error(result, expected, num_clients, lower, upper):
    """At most `num_clients` quantization steps from `expected`, plus the float32
    rounding of the result."""
    expected = np.asarray(expected, np.float64)
    steps = num_clients * (upper - lower) / LEVELS
    np.testing.assert_allclose(
        result,
        expected,
        rtol=0,
        atol=steps + np.max(np.spacing(np.abs(expected).astype(np.float32))),
    )


# ------------------------------------------------------------------ types
def test_is_an_unweighted_factory_with_seeded_state():
    factory = tff.aggregators.SecureSumFactory(1.0)
    assert isinstance(factory, tff.aggregators.UnweightedAggregationFactory)
    assert not isinstance(factory, tff.aggregators.WeightedAggregationFactory)
    process = factory.create(VALUE_TYPE)
    assert str(process.next.type_signature) == (
        "(<state=<seed=int64[2],round_num=int64>@SERVER,value={float32[3]}@CLIENTS> -> "
        "<state=<seed=int64[2],round_num=int64>@SERVER,result=float32[3]@SERVER,"
        "measurements=<secure_upper_clipped_count=int32,secure_lower_clipped_count=int32,protocol=<clients=int64,"
        "threshold=int64,dropped_after_advertising=int64,dropped_after_sharing=int64,dropped_after_input=int64,"
        "survivors=int64,unmasking_clients=int64,reconstructions=int64,keys_reconstructed=int64,"
        "pairwise_masks_removed=int64,failed=int64,bytes_up=float64,bytes_down=float64,"
        "server_seconds=float64>>@SERVER>)"
    )
    with pytest.raises(TypeError, match="unweighted"):
        factory.create(VALUE_TYPE, tff.TensorType(tf.float32))


# ---------------------------------------------------------------- numbers
def test_sum_within_quantization_error():
    process = tff.aggregators.SecureSumFactory(1.0).create(VALUE_TYPE)
    for output in run_rounds(process, 2, CLIENT_VALUES):  # fresh masks and rounding every round
        assert_within_quantization_error(output.result, np.sum(CLIENT_VALUES, axis=0), 3, -1.0, 1.0)
        assert (
            output.measurements["secure_upper_clipped_count"],
            output.measurements["secure_lower_clipped_count"],
        ) == (0, 0)


def test_values_outside_the_thresholds_are_clipped_and_counted():
    process = tff.aggregators.SecureSumFactory(1.0, 0.0).create(tff.TensorType(tf.float32))
    output = process.next(process.initialize(), [2.0, -3.0, 0.5, 0.25])
    assert_within_quantization_error(output.result, 1.0 + 0.0 + 0.5 + 0.25, 4, 0.0, 1.0)
    assert (
        output.measurements["secure_upper_clipped_count"],
        output.measurements["secure_lower_clipped_count"],
    ) == (1, 1)


def test_secure_mean_as_in_the_aggregation_tutorial():
    secure_mean = tff.aggregators.MeanFactory(
        value_sum_factory=tff.aggregators.SecureSumFactory(10.0)
    )
    process = secure_mean.create(VALUE_TYPE, tff.TensorType(tf.float32))
    assert str(process.initialize.type_signature) == (
        "( -> <value_sum_process=<seed=int64[2],round_num=int64>,weight_sum_process=<>>@SERVER)"
    )
    weights = [3.0, 1.0, 6.0]
    output = process.next(process.initialize(), CLIENT_VALUES, weights)
    expected = np.average(CLIENT_VALUES, axis=0, weights=weights)
    # The weighted values are summed securely, then divided by the weights' sum.
    assert_within_quantization_error(
        output.result * sum(weights), expected * sum(weights), 3, -10.0, 10.0
    )
    assert output.measurements["mean_value"]["secure_upper_clipped_count"] == 0


def test_seed_fixes_the_rounding():
    def result(seed):
        process = tff.aggregators.SecureSumFactory(1.0, bits=8, max_clients=3, seed=seed).create(
            VALUE_TYPE
        )
        return process.next(process.initialize(), CLIENT_VALUES).result

    np.testing.assert_array_equal(result(0), result(0))
    assert not np.array_equal(result(0), result(1))


# ------------------------------------------------------ what is not honoured
class ThresholdEstimate:
    """Stands for a TFF estimation process."""

    def report(self, state):
        return state


@pytest.mark.parametrize(
    "args, error, message",
    [
        ((4, 1.5), TypeError, "must be an integer like upper_bound_threshold"),
        ((np.int32(-4), np.int32(4)), ValueError, "lower_bound < upper_bound"),
        ((ThresholdEstimate(),), tff.UnsupportedError, "fixed bounds"),
        (
            (
                tff.aggregators.PrivateQuantileEstimationProcess.no_noise(1.0, 0.5, 0.2),
                tff.aggregators.PrivateQuantileEstimationProcess.no_noise(1.0, 0.5, 0.2),
            ),
            tff.UnsupportedError,
            "leave lower_bound_threshold unset",
        ),
        ((1.0, 2.0), ValueError, "lower_bound < upper_bound"),
        ((-1.0,), ValueError, "lower_bound < upper_bound"),
    ],
    ids=[
        "int-upper-float-lower",
        "numpy-int-lower-above-upper",
        "estimation-process",
        "two-quantile-estimates",
        "lower-above-upper",
        "negative-upper-alone",
    ],
)
def test_thresholds_it_cannot_honour(args, error, message):
    with pytest.raises(error, match=message):
        tff.aggregators.SecureSumFactory(*args)


def test_integer_thresholds_sum_integers_only():
    with pytest.raises(TypeError, match="integer thresholds sums integer values, got float32"):
        tff.aggregators.SecureSumFactory(100).create(VALUE_TYPE)
