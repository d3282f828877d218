"""`tff.templates` processes check that their computations fit together."""

import pytest
import tensorflow as tf

import fedrun.compat.tff as tff


@tff.federated_computation()
def zero_at_server():
    return tff.federated_value(0.0, tff.SERVER)


def test_iterative_process_runs_state_only_rounds():
    @tff.federated_computation(tff.type_at_server(tf.float32))
    def count(state):
        return tff.federated_map(tff.tf_computation(lambda x: x + 1.0), state)

    process = tff.templates.IterativeProcess(zero_at_server, count)
    assert str(process.state_type) == "float32@SERVER"
    state = process.initialize()
    for _ in range(3):
        state = process.next(state)
    assert state == 3.0


def test_next_must_accept_the_state():
    @tff.federated_computation(tff.type_at_server(tf.int32))
    def step(state):
        return state

    with pytest.raises(TypeError, match="must accept the state float32@SERVER"):
        tff.templates.IterativeProcess(zero_at_server, step)


def test_measured_process_needs_a_measured_output():
    @tff.federated_computation(tff.type_at_server(tf.float32))
    def step(state):
        return state

    with pytest.raises(TypeError, match="MeasuredProcessOutput"):
        tff.templates.MeasuredProcess(zero_at_server, step)


def test_aggregation_process_needs_a_client_value():
    @tff.federated_computation(tff.type_at_server(tf.float32), tff.type_at_server(tf.float32))
    def step(state, value):
        return tff.templates.MeasuredProcessOutput(state=state, result=value, measurements=state)

    with pytest.raises(TypeError, match="placed at tff.CLIENTS"):
        tff.templates.AggregationProcess(zero_at_server, step)


def test_initialize_must_be_a_computation():
    with pytest.raises(TypeError, match="must be a computation"):
        tff.templates.IterativeProcess(lambda: 0.0, zero_at_server)
