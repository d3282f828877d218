"""The custom-aggregation tutorial's printed results, with fedrun's factories."""

import pytest
import tensorflow as tf

from fedrun.core.placements import AtClients
from tests.aggregators.example_factory import (
    ExampleTaskFactory,
    MinimalExampleFactory,
    StatefulExampleFactory,
)

CLIENT_DATA = (1.0, 2.0, 5.0)


def clients(values):
    return AtClients.from_list(list(values))


def test_minimal_signatures():
    process = MinimalExampleFactory().create(tf.TensorSpec([], tf.float32))
    assert str(process.initialize.type_signature) == "( -> <>@SERVER)"
    assert str(process.next.type_signature) == (
        "(<state=<>@SERVER,value={float32}@CLIENTS> -> <state=<>@SERVER,result=float32@SERVER,measurements=<>@SERVER>)"
    )


def test_minimal_result():
    process = MinimalExampleFactory().create(tf.TensorSpec([], tf.float32))
    output = process.next(process.initialize(), clients(CLIENT_DATA))
    assert float(output.result.value) == 8.0


def test_stateful_signatures():
    process = StatefulExampleFactory().create(tf.TensorSpec([], tf.float32))
    assert str(process.initialize.type_signature) == "( -> float32@SERVER)"
    assert str(process.next.type_signature) == (
        "(<state=float32@SERVER,value={float32}@CLIENTS> -> "
        "<state=float32@SERVER,result=float32@SERVER,measurements=float32@SERVER>)"
    )


def test_stateful_rounds():
    process = StatefulExampleFactory().create(tf.TensorSpec([], tf.float32))
    state = process.initialize()
    results, measurements = [], []
    for _ in range(3):
        output = process.next(state, clients(CLIENT_DATA))
        state = output.state
        results.append(float(output.result.value))
        measurements.append(float(output.measurements))
    assert results == [8.0, 8.0, 8.0]
    assert measurements == [8.0, 16.0, 24.0]


STRUCTURED_SPEC = [tf.TensorSpec([2], tf.float32), tf.TensorSpec([3], tf.float32)]
STRUCTURED_DATA = [[[1.0, 2.0], [3.0, 4.0, 5.0]], [[1.0, 1.0], [3.0, 0.0, -5.0]]]


def test_structured_signature():
    process = StatefulExampleFactory().create(STRUCTURED_SPEC)
    assert str(process.next.type_signature) == (
        "(<state=float32@SERVER,value={<float32[2],float32[3]>}@CLIENTS> -> <state=float32@SERVER,"
        "result=<float32[2],float32[3]>@SERVER,measurements=<float32[2],float32[3]>@SERVER>)"
    )


def test_structured_result():
    process = StatefulExampleFactory().create(STRUCTURED_SPEC)
    per_client = [
        [tf.constant(leaf, spec.dtype) for leaf, spec in zip(client, STRUCTURED_SPEC)]
        for client in STRUCTURED_DATA
    ]
    output = process.next(process.initialize(), clients(per_client))
    assert [leaf.numpy().tolist() for leaf in output.result.value] == [[2.0, 3.0], [6.0, 4.0, 0.0]]


def run_rounds(factory, rounds):
    process = factory.create(tf.TensorSpec([], tf.float32))
    state, outputs = process.initialize(), []
    for _ in range(rounds):
        output = process.next(state, clients(CLIENT_DATA))
        state = output.state
        outputs.append(output)
    return outputs


def plain(nest):
    if isinstance(nest, dict):
        return {k: plain(v) for k, v in nest.items()}
    if isinstance(nest, tuple):
        return tuple(plain(v) for v in nest)
    return float(nest)


def test_inner_delegation_default_sum():
    outputs = run_rounds(ExampleTaskFactory(), 2)
    assert [float(o.result.value) for o in outputs] == [8.0, 8.0]
    assert [plain(o.measurements) for o in outputs] == [
        {"scaled_value": 8.0, "example_task": ()},
        {"scaled_value": 16.0, "example_task": ()},
    ]


def test_inner_delegation_nested_in_itself():
    outputs = run_rounds(ExampleTaskFactory(ExampleTaskFactory()), 2)
    assert [float(o.result.value) for o in outputs] == [8.0, 8.0]
    assert [plain(o.measurements) for o in outputs] == [
        {"scaled_value": 8.0, "example_task": {"scaled_value": 8.0, "example_task": ()}},
        {"scaled_value": 16.0, "example_task": {"scaled_value": 32.0, "example_task": ()}},
    ]


@pytest.mark.parametrize(
    "factory",
    [ExampleTaskFactory(), ExampleTaskFactory(ExampleTaskFactory())],
    ids=["flat", "nested"],
)
def test_inner_state_nests_inner_state(factory):
    process = factory.create(tf.TensorSpec([], tf.float32))
    nested = isinstance(factory._inner_factory, ExampleTaskFactory)
    expected = "( -> <float32,<float32,<>>>@SERVER)" if nested else "( -> <float32,<>>@SERVER)"
    assert str(process.initialize.type_signature) == expected
