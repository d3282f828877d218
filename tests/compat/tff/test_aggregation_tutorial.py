"""The custom-aggregation tutorial's programs, run with `import fedrun.compat.tff as tff`.

Each test writes a factory the way the tutorial's cells do and checks the printed
signatures and results the tutorial shows.
"""

import collections

import numpy as np
import pytest
import tensorflow as tf

import fedrun.compat.tff as tff


class MinimalTaskFactory(tff.aggregators.UnweightedAggregationFactory):
    """Sums `value * 2.0`, then divides by 2.0; no state, no measurements."""

    def create(self, value_type):
        @tff.federated_computation()
        def initialize_fn():
            return tff.federated_value((), tff.SERVER)

        @tff.federated_computation(
            initialize_fn.type_signature.result, tff.type_at_clients(value_type)
        )
        def next_fn(state, value):
            scaled_value = tff.federated_map(tff.tf_computation(lambda x: x * 2.0), value)
            summed_value = tff.federated_sum(scaled_value)
            unscaled_value = tff.federated_map(tff.tf_computation(lambda x: x / 2.0), summed_value)
            measurements = tff.federated_value((), tff.SERVER)
            return tff.templates.MeasuredProcessOutput(
                state=state, result=unscaled_value, measurements=measurements
            )

        return tff.templates.AggregationProcess(initialize_fn, next_fn)


class StatefulTaskFactory(tff.aggregators.UnweightedAggregationFactory):
    """Scales by the round index kept in the state; reports the scaled sum."""

    def create(self, value_type):
        @tff.federated_computation()
        def initialize_fn():
            return tff.federated_value(0.0, tff.SERVER)

        @tff.federated_computation(
            initialize_fn.type_signature.result, tff.type_at_clients(value_type)
        )
        def next_fn(state, value):
            new_state = tff.federated_map(tff.tf_computation(lambda x: x + 1.0), state)
            state_at_clients = tff.federated_broadcast(new_state)
            scaled_value = tff.federated_map(
                tff.tf_computation(lambda x, y: x * y), (value, state_at_clients)
            )
            summed_value = tff.federated_sum(scaled_value)
            unscaled_value = tff.federated_map(
                tff.tf_computation(lambda x, y: x / y), (summed_value, new_state)
            )
            return tff.templates.MeasuredProcessOutput(
                state=new_state, result=unscaled_value, measurements=summed_value
            )

        return tff.templates.AggregationProcess(initialize_fn, next_fn)


@tff.tf_computation()
def scale(value, factor):
    return tf.nest.map_structure(lambda x: x * factor, value)


@tff.tf_computation()
def unscale(value, factor):
    return tf.nest.map_structure(lambda x: x / factor, value)


@tff.tf_computation()
def add_one(value):
    return value + 1.0


class StructuredTaskFactory(tff.aggregators.UnweightedAggregationFactory):
    """The stateful task written with `tf.nest` so that it accepts structures."""

    def create(self, value_type):
        @tff.federated_computation()
        def initialize_fn():
            return tff.federated_value(0.0, tff.SERVER)

        @tff.federated_computation(
            initialize_fn.type_signature.result, tff.type_at_clients(value_type)
        )
        def next_fn(state, value):
            new_state = tff.federated_map(add_one, state)
            state_at_clients = tff.federated_broadcast(new_state)
            scaled_value = tff.federated_map(scale, (value, state_at_clients))
            summed_value = tff.federated_sum(scaled_value)
            unscaled_value = tff.federated_map(unscale, (summed_value, new_state))
            return tff.templates.MeasuredProcessOutput(
                state=new_state, result=unscaled_value, measurements=summed_value
            )

        return tff.templates.AggregationProcess(initialize_fn, next_fn)


class InnerTaskFactory(tff.aggregators.UnweightedAggregationFactory):
    """The task delegating the sum to an inner factory (default: `SumFactory`)."""

    def __init__(self, inner_factory=None):
        if inner_factory is None:
            inner_factory = tff.aggregators.SumFactory()
        self._inner_factory = inner_factory

    def create(self, value_type):
        inner_process = self._inner_factory.create(value_type)

        @tff.federated_computation()
        def initialize_fn():
            my_state = tff.federated_value(0.0, tff.SERVER)
            inner_state = inner_process.initialize()
            return tff.federated_zip((my_state, inner_state))

        @tff.federated_computation(
            initialize_fn.type_signature.result, tff.type_at_clients(value_type)
        )
        def next_fn(state, value):
            my_state, inner_state = state
            my_new_state = tff.federated_map(add_one, my_state)
            my_state_at_clients = tff.federated_broadcast(my_new_state)
            scaled_value = tff.federated_map(scale, (value, my_state_at_clients))
            inner_output = inner_process.next(inner_state, scaled_value)
            unscaled_value = tff.federated_map(unscale, (inner_output.result, my_new_state))
            new_state = tff.federated_zip((my_new_state, inner_output.state))
            measurements = tff.federated_zip(
                collections.OrderedDict(
                    scaled_value=inner_output.result, example_task=inner_output.measurements
                )
            )
            return tff.templates.MeasuredProcessOutput(
                state=new_state, result=unscaled_value, measurements=measurements
            )

        return tff.templates.AggregationProcess(initialize_fn, next_fn)


# ------------------------------------------------------------------ signatures
@pytest.mark.parametrize(
    "factory, value_type, initialize, next_",
    [
        (
            MinimalTaskFactory(),
            tff.TensorType(tf.float32),
            "( -> <>@SERVER)",
            "(<state=<>@SERVER,value={float32}@CLIENTS> -> <state=<>@SERVER,result=float32@SERVER,measurements=<>@SERVER>)",
        ),
        (
            StatefulTaskFactory(),
            tff.TensorType(tf.float32),
            "( -> float32@SERVER)",
            "(<state=float32@SERVER,value={float32}@CLIENTS> -> "
            "<state=float32@SERVER,result=float32@SERVER,measurements=float32@SERVER>)",
        ),
        (
            StructuredTaskFactory(),
            tff.to_type([(tf.float32, (2,)), (tf.float32, (3,))]),
            "( -> float32@SERVER)",
            "(<state=float32@SERVER,value={<float32[2],float32[3]>}@CLIENTS> -> <state=float32@SERVER,"
            "result=<float32[2],float32[3]>@SERVER,measurements=<float32[2],float32[3]>@SERVER>)",
        ),
        (
            InnerTaskFactory(),
            tff.TensorType(tf.float32),
            "( -> <float32,<>>@SERVER)",
            "(<state=<float32,<>>@SERVER,value={float32}@CLIENTS> -> <state=<float32,<>>@SERVER,"
            "result=float32@SERVER,measurements=<scaled_value=float32,example_task=<>>@SERVER>)",
        ),
    ],
    ids=["minimal", "stateful", "structured", "inner"],
)
def test_signatures_print_as_in_the_tutorial(factory, value_type, initialize, next_):
    process = factory.create(value_type)
    assert f"{process.initialize.type_signature}" == initialize
    assert f"{process.next.type_signature}" == next_


# ------------------------------------------------------------------ results
def test_minimal_task_sums():
    aggregation_process = MinimalTaskFactory().create(tff.TensorType(tf.float32))
    state = aggregation_process.initialize()
    output = aggregation_process.next(state, (1.0, 2.0, 5.0))
    assert f"Aggregation result: {output.result}" == "Aggregation result: 8.0"
    assert output.measurements == ()


def test_stateful_task_measures_each_round():
    aggregation_process = StatefulTaskFactory().create(tff.TensorType(tf.float32))
    state = aggregation_process.initialize()
    printed = []
    for _ in range(3):
        output = aggregation_process.next(state, (1.0, 2.0, 5.0))
        state = output.state
        printed.append(f"{output.result} {output.measurements}")
    assert printed == ["8.0 8.0", "8.0 16.0", "8.0 24.0"]


def test_structured_task_sums_each_member():
    aggregation_process = StructuredTaskFactory().create(
        tff.to_type([(tf.float32, (2,)), (tf.float32, (3,))])
    )
    client_data = [[[1.0, 2.0], [3.0, 4.0, 5.0]], [[1.0, 1.0], [3.0, 0.0, -5.0]]]
    output = aggregation_process.next(aggregation_process.initialize(), client_data)
    assert f"[{output.result[0]}, {output.result[1]}]" == "[[2. 3.], [6. 4. 0.]]"


@pytest.mark.parametrize(
    "factory, example_task",
    [
        (InnerTaskFactory(), ["()", "()"]),
        (
            InnerTaskFactory(InnerTaskFactory()),
            [
                "OrderedDict([('scaled_value', 8.0), ('example_task', ())])",
                "OrderedDict([('scaled_value', 32.0), ('example_task', ())])",
            ],
        ),
    ],
    ids=["sum-inside", "task-inside-task"],
)
def test_inner_factory_measurements_nest(factory, example_task):
    aggregation_process = factory.create(tff.TensorType(tf.float32))
    state = aggregation_process.initialize()
    printed = []
    for _ in range(2):
        output = aggregation_process.next(state, (1.0, 2.0, 5.0))
        state = output.state
        printed.append(
            (
                f"{output.result}",
                f"{output.measurements['scaled_value']}",
                f"{output.measurements['example_task']}",
            )
        )
    assert printed == [("8.0", "8.0", example_task[0]), ("8.0", "16.0", example_task[1])]


def test_task_inside_fedrun_mean():
    """A tutorial factory as the value sum of a (fedrun-backed) weighted mean."""
    mean = tff.aggregators.MeanFactory(value_sum_factory=InnerTaskFactory())
    process = mean.create(tff.TensorType(tf.float32), tff.TensorType(tf.float32))
    output = process.next(process.initialize(), [1.0, 2.0, 5.0], [1.0, 1.0, 2.0])
    np.testing.assert_allclose(output.result, (1.0 + 2.0 + 10.0) / 4.0)
    assert output.measurements["mean_value"]["scaled_value"] == 13.0
