"""TFF's custom_federated_algorithms_1 tutorial, cell by cell, with
`import fedrun.compat.tff as tff`; each test asserts what its cells print."""

import collections

import numpy as np
import pytest
import tensorflow as tf

import fedrun.compat.tff as tff


def test_hello_world():
    @tff.federated_computation
    def hello_world():
        return "Hello, World!"

    assert hello_world() == b"Hello, World!"


def test_federated_types_print_as_in_tff():
    federated_float_on_clients = tff.FederatedType(np.float32, tff.CLIENTS)
    assert str(federated_float_on_clients.member) == "float32"
    assert str(federated_float_on_clients.placement) == "CLIENTS"
    assert str(federated_float_on_clients) == "{float32}@CLIENTS"
    assert federated_float_on_clients.all_equal is False
    assert str(tff.FederatedType(np.float32, tff.CLIENTS, all_equal=True)) == "float32@CLIENTS"
    simple_regression_model_type = tff.StructType([("a", np.float32), ("b", np.float32)])
    assert str(simple_regression_model_type) == "<a=float32,b=float32>"
    assert (
        str(tff.FederatedType(simple_regression_model_type, tff.CLIENTS, all_equal=True))
        == "<a=float32,b=float32>@CLIENTS"
    )


def test_average_temperature():
    @tff.federated_computation(tff.FederatedType(np.float32, tff.CLIENTS))
    def get_average_temperature(sensor_readings):
        return tff.federated_mean(sensor_readings)

    assert str(get_average_temperature.type_signature) == "({float32}@CLIENTS -> float32@SERVER)"
    assert str(get_average_temperature([68.5, 70.3, 69.8])) == str(
        np.float32((68.5 + 70.3 + 69.8) / 3)
    )


def test_add_half_on_clients():
    @tff.tensorflow.computation(np.float32)
    def add_half(x):
        return tf.add(x, 0.5)

    assert str(add_half.type_signature) == "(float32 -> float32)"

    @tff.federated_computation(tff.FederatedType(np.float32, tff.CLIENTS))
    def add_half_on_clients(x):
        return tff.federated_map(add_half, x)

    assert str(add_half_on_clients.type_signature) == "({float32}@CLIENTS -> {float32}@CLIENTS)"
    assert add_half_on_clients([1.0, 3.0, 2.0]) == [1.5, 3.5, 2.5]


def test_add_ten_builds_its_constant_in_the_body():
    def get_constant_10():
        return tf.constant(10.0)

    @tff.tensorflow.computation(np.float32)
    def add_ten(x):
        return x + get_constant_10()

    assert add_ten(5.0) == 15.0


def test_sequences_from_python_lists():
    float32_sequence = tff.SequenceType(np.float32)
    assert str(float32_sequence) == "float32*"

    @tff.tensorflow.computation(tff.SequenceType(np.float32))
    def get_local_temperature_average(local_temperatures):
        sum_and_count = local_temperatures.reduce((0.0, 0), lambda x, y: (x[0] + y, x[1] + 1))
        return sum_and_count[0] / tf.cast(sum_and_count[1], tf.float32)

    assert str(get_local_temperature_average.type_signature) == "(float32* -> float32)"

    @tff.tensorflow.computation(tff.SequenceType(np.int32))
    def foo(x):
        return x.reduce(np.int32(0), lambda x, y: x + y)

    assert foo([1, 2, 3]) == 6
    assert str(get_local_temperature_average([68.5, 70.3, 69.8])) == str(
        np.float32((68.5 + 70.3 + 69.8) / 3)
    )
    assert get_local_temperature_average(tf.data.Dataset.from_tensor_slices([1.0, 2.0])) == 1.5


def test_sequence_of_structures(capsys):
    @tff.tensorflow.computation(
        tff.SequenceType(collections.OrderedDict([("A", np.int32), ("B", np.int32)]))
    )
    def foo(ds):
        print("element_structure = {}".format(ds.element_spec))
        return ds.reduce(np.int32(0), lambda total, x: total + x["A"] * x["B"])

    assert str(foo.type_signature) == "(<A=int32,B=int32>* -> int32)"
    assert capsys.readouterr().out == (
        "element_structure = OrderedDict([('A', TensorSpec(shape=(), dtype=tf.int32, name=None)), "
        "('B', TensorSpec(shape=(), dtype=tf.int32, name=None))])\n"
    )
    assert foo([{"A": 2, "B": 3}, {"A": 4, "B": 5}]) == 26


def test_global_temperature_average_over_client_sequences():
    @tff.tensorflow.computation(tff.SequenceType(np.float32))
    def get_local_temperature_average(local_temperatures):
        sum_and_count = local_temperatures.reduce((0.0, 0), lambda x, y: (x[0] + y, x[1] + 1))
        return sum_and_count[0] / tf.cast(sum_and_count[1], tf.float32)

    @tff.federated_computation(tff.FederatedType(tff.SequenceType(np.float32), tff.CLIENTS))
    def get_global_temperature_average(sensor_readings):
        return tff.federated_mean(tff.federated_map(get_local_temperature_average, sensor_readings))

    assert (
        str(get_global_temperature_average.type_signature)
        == "({float32*}@CLIENTS -> float32@SERVER)"
    )
    # Client means 69, 71 and 70.
    assert get_global_temperature_average([[68.0, 70.0], [71.0], [68.0, 72.0, 70.0]]) == 70.0


def test_a_sequence_argument_of_the_wrong_kind_is_refused():
    @tff.tensorflow.computation(tff.SequenceType(np.int32))
    def foo(x):
        return x.reduce(np.int32(0), lambda x, y: x + y)

    with pytest.raises(TypeError, match="sequence type int32"):
        foo(3)
