"""`tff.federated_computation`, `tff.tf_computation` and the intrinsics on fedrun values."""

import collections

import numpy as np
import pytest
import tensorflow as tf

import fedrun.compat.tff as tff
from fedrun.compat.tff.values import Float32
from fedrun.core.placements import AtClients


def test_hello_world_comes_back_as_bytes():
    computation = tff.federated_computation(lambda: "Hello, World!")
    assert computation() == b"Hello, World!"
    assert str(computation.type_signature) == "( -> string)"


def test_tf_computation_with_types_has_a_signature_and_runs_from_python():
    @tff.tf_computation(tf.float32, tf.float32)
    def weighted(x, w):
        return x * w

    assert str(weighted.type_signature) == "(<x=float32,w=float32> -> float32)"
    assert weighted(2.0, 3.0) == 6.0
    assert isinstance(weighted(2.0, 3.0), Float32)


def test_polymorphic_tf_computation_has_a_signature_per_argument_type():
    double = tff.tf_computation(lambda x: x * 2)
    with pytest.raises(TypeError, match="declared without parameter types"):
        _ = double.type_signature
    assert str(double.signature_for(tff.to_type((tf.int32, (3,))))) == "(int32[3] -> int32[3])"
    assert str(double.signature_for(tff.to_type(tf.float32))) == "(float32 -> float32)"


def test_float32_results_print_with_float32_precision():
    assert repr(Float32(np.float32(0.12345679))) == "0.12345679"
    assert str(collections.OrderedDict(loss=Float32(8.0))) == "OrderedDict([('loss', 8.0)])"


@pytest.fixture(scope="module")
def mean_and_spread():
    @tff.federated_computation(tff.type_at_clients(tf.float32), tff.type_at_clients(tf.float32))
    def weighted_mean(values, weights):
        mean = tff.federated_mean(values, weights)
        at_clients = tff.federated_broadcast(mean)
        squared = tff.federated_map(
            tff.tf_computation(lambda v, m: (v - m) ** 2), (values, at_clients)
        )
        return tff.federated_zip(
            collections.OrderedDict(mean=mean, spread=tff.federated_sum(squared))
        )

    return weighted_mean


def test_federated_computation_signature_from_abstract_tracing(mean_and_spread):
    assert str(mean_and_spread.type_signature) == (
        "(<values={float32}@CLIENTS,weights={float32}@CLIENTS> -> <mean=float32,spread=float32>@SERVER)"
    )


def test_federated_computation_runs_on_client_lists(mean_and_spread):
    result = mean_and_spread([1.0, 2.0, 6.0], [1.0, 1.0, 2.0])
    assert list(result) == ["mean", "spread"]
    np.testing.assert_allclose(result["mean"], 15.0 / 4.0)
    np.testing.assert_allclose(
        result["spread"], sum((v - 3.75) ** 2 for v in (1.0, 2.0, 6.0)), rtol=1e-6
    )


def test_client_placed_results_come_back_per_client():
    @tff.federated_computation(tff.type_at_clients(tf.int32))
    def plus_one(values):
        return tff.federated_map(tff.tf_computation(lambda v: v + 1), values)

    assert plus_one([1, 2, 3]) == [2, 3, 4]
    assert str(plus_one.type_signature) == "({int32}@CLIENTS -> {int32}@CLIENTS)"


def test_secure_sum_keeps_the_values_dtype():
    @tff.federated_computation(tff.type_at_clients(tf.int32))
    def secure_total(values):
        return tff.federated_secure_sum_bitwidth(values, 4)

    assert str(secure_total.type_signature) == "({int32}@CLIENTS -> int32@SERVER)"
    assert secure_total([7, 8, 9]) == (7 + 8 + 9) % 16


def test_zip_at_clients_mixes_broadcast_and_client_values():
    @tff.federated_computation(tff.type_at_server(tf.float32), tff.type_at_clients(tf.float32))
    def pairs(scale, values):
        return tff.federated_zip((tff.federated_broadcast(scale), values))

    assert (
        str(pairs.type_signature)
        == "(<scale=float32@SERVER,values={float32}@CLIENTS> -> {<float32,float32>}@CLIENTS)"
    )
    assert pairs(2.0, [1.0, 3.0]) == [(2.0, 1.0), (2.0, 3.0)]


def test_nested_computation_calls_keep_values_placed():
    @tff.federated_computation(tff.type_at_clients(tf.float32))
    def total(values):
        return tff.federated_sum(values)

    @tff.federated_computation(tff.type_at_clients(tf.float32))
    def twice_total(values):
        inner = total(values)
        return tff.federated_map(tff.tf_computation(lambda t: t * 2.0), inner)

    assert str(twice_total.type_signature) == "({float32}@CLIENTS -> float32@SERVER)"
    assert twice_total([1.0, 2.0]) == 6.0


def test_arguments_are_checked_against_declared_types():
    @tff.federated_computation(tff.type_at_server(tf.float32))
    def identity(x):
        return x

    @tff.federated_computation(tff.type_at_clients(tf.float32))
    def misuse(values):
        return identity(values)

    with pytest.raises(TypeError, match="expects float32@SERVER"):
        _ = misuse.type_signature


def test_broadcast_without_client_arguments_fails_clearly():
    @tff.federated_computation(tff.type_at_server(tf.float32))
    def spread(x):
        return tff.federated_broadcast(x)

    with pytest.raises(ValueError, match="number of clients is unknown"):
        spread(1.0)


def test_values_can_be_passed_as_fedrun_placed_values():
    @tff.federated_computation(tff.type_at_clients(tf.float32))
    def total(values):
        return tff.federated_sum(values)

    assert total(AtClients(tf.constant([1.0, 2.0, 3.0]), 3)) == 6.0


@pytest.mark.parametrize(
    "name, pattern",
    [
        ("backends", "no execution context"),
        ("framework", "framework internals"),
        ("sequence_reduce", "local trainer"),
    ],
    ids=["backends", "framework", "sequence-reduce"],
)
def test_names_fedrun_cannot_honour_say_what_to_do(name, pattern):
    with pytest.raises(tff.UnsupportedError, match=pattern):
        getattr(tff, name)


def test_unknown_names_are_attribute_errors():
    with pytest.raises(AttributeError, match="migrating-from-tff"):
        _ = tff.no_such_name
    with pytest.raises(tff.UnsupportedError, match="build_weighted_fed_avg"):
        _ = tff.learning.build_federated_averaging_process
