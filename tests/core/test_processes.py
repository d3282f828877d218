"""Processes and their signatures (the seed's minimal aggregation, natively)."""

import tensorflow as tf

from fedrun.core import intrinsics
from fedrun.core.placements import AtClients, AtServer
from fedrun.core.processes import AggregationProcess, IterativeProcess, MeasuredProcessOutput


def double(x):
    return x * 2.0


def halve(x):
    return x / 2.0


def scaled_sum_process(spec):
    def initialize():
        return ()

    def next_fn(state, value):
        summed = intrinsics.sum(intrinsics.map(double, value))
        return MeasuredProcessOutput(state, intrinsics.map(halve, summed), ())

    return AggregationProcess(initialize, next_fn, spec)


def test_scaled_sum_result_and_signatures():
    process = scaled_sum_process(tf.TensorSpec([], tf.float32))
    output = process.next(process.initialize(), AtClients(tf.constant([1.0, 2.0, 5.0]), 3))
    assert float(output.result.value) == 8.0
    assert str(process.initialize.type_signature) == "( -> <>@SERVER)"
    assert str(process.next.type_signature) == (
        "(<state=<>@SERVER,value={float32}@CLIENTS> -> <state=<>@SERVER,result=float32@SERVER,measurements=<>@SERVER>)"
    )


def test_weighted_signature_lists_the_weight():
    def next_fn(state, value, weight):
        return MeasuredProcessOutput(state, intrinsics.mean(value, weight), ())

    process = AggregationProcess(
        lambda: (), next_fn, [tf.TensorSpec([2])], tf.TensorSpec([], tf.float32)
    )
    assert process.is_weighted
    assert "weight={float32}@CLIENTS" in str(process.next.type_signature)
    assert "result=<float32[2]>@SERVER" in str(process.next.type_signature)


def test_iterative_process_state_type():
    process = IterativeProcess(
        lambda: {"count": tf.constant(0, tf.int64)}, lambda s: {"count": s["count"] + 1}
    )
    assert str(process.state_type) == "<count=int64>@SERVER"
    assert int(process.next(process.initialize())["count"]) == 1
    assert isinstance(AtServer(1).value, int)
