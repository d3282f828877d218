"""TFF's type spellings and the facade's conversions."""

import collections

import numpy as np
import pytest
import tensorflow as tf

import fedrun.compat.tff as tff
from fedrun.compat.tff.types import convert, is_assignable, to_spec
from fedrun.core import types as core_types


@pytest.mark.parametrize(
    "spec, printed",
    [
        (tf.float32, "float32"),
        ((tf.int32, (2, 3)), "int32[2,3]"),
        ([(tf.float32, (2,)), (tf.float32, (3,))], "<float32[2],float32[3]>"),
        ([("a", tf.float32), ("b", (tf.int64, [None]))], "<a=float32,b=int64[?]>"),
        (
            collections.OrderedDict(
                x=tf.TensorSpec([None, 784]), y=tf.TensorSpec([None, 1], tf.int32)
            ),
            "<x=float32[?,784],y=int32[?,1]>",
        ),
    ],
    ids=["dtype", "dtype-shape-pair", "list-of-pairs", "named-pairs", "tensor-specs"],
)
def test_to_type_accepts_tffs_spellings(spec, printed):
    assert str(tff.to_type(spec)) == printed


@pytest.mark.parametrize(
    "built, printed",
    [
        (tff.FederatedType(tf.float32, tff.CLIENTS), "{float32}@CLIENTS"),
        (tff.FederatedType(tf.float32, tff.CLIENTS, all_equal=True), "float32@CLIENTS"),
        (tff.FederatedType(tf.float32, tff.SERVER), "float32@SERVER"),
        (tff.type_at_clients(tff.TensorType(tf.int32, [2])), "{int32[2]}@CLIENTS"),
        (tff.type_at_server(()), "<>@SERVER"),
    ],
    ids=["clients-default", "clients-all-equal", "server", "type-at-clients", "type-at-server"],
)
def test_federated_types_default_all_equal_by_placement(built, printed):
    assert str(built) == printed


def test_facade_federated_type_is_fedrun_federated_type():
    facade = tff.FederatedType(tf.float32, tff.CLIENTS)
    native = core_types.FederatedType(
        core_types.TensorType(tf.float32), tff.CLIENTS, all_equal=False
    )
    assert facade == native and native == facade
    assert hash(facade) == hash(native)
    assert isinstance(native, tff.FederatedType)


def test_convert_makes_canonical_structures_of_the_types_dtypes():
    t = tff.to_type([("w", (tf.float32, (2,))), ("n", tf.int64)])
    value = convert({"w": [1, 2], "n": 3}, t)
    assert isinstance(value, collections.OrderedDict) and list(value) == ["w", "n"]
    assert value["w"].dtype == tf.float32 and value["n"].dtype == tf.int64
    assert isinstance(convert([[1.0, 2.0], 3], tff.to_type([(tf.float32, (2,)), tf.int64])), tuple)


def test_convert_can_keep_the_callers_containers():
    Pair = collections.namedtuple("Pair", "a b")
    t = tff.to_type(Pair(tf.float32, tf.float32))
    kept = convert(Pair(1.0, 2.0), t, keep_containers=True)
    assert isinstance(kept, Pair) and float(kept.b) == 2.0


@pytest.mark.parametrize(
    "value, t",
    [
        ([1.0, 2.0, 3.0], tff.to_type((tf.float32, (2,)))),
        ([1.0], tff.to_type([tf.float32, tf.float32])),
    ],
    ids=["wrong-shape", "wrong-length"],
)
def test_convert_refuses_values_that_do_not_fit(value, t):
    with pytest.raises(TypeError):
        convert(value, t)


@pytest.mark.parametrize(
    "target, source, expected",
    [
        (tff.to_type((tf.float32, [None])), tff.to_type((tf.float32, [3])), True),
        (tff.to_type((tf.float32, [3])), tff.to_type((tf.float32, [None])), False),
        (tff.type_at_clients(tf.float32), tff.type_at_clients(tf.float32, all_equal=True), True),
        (tff.type_at_clients(tf.float32, all_equal=True), tff.type_at_clients(tf.float32), False),
        (tff.type_at_server(tf.float32), tff.type_at_clients(tf.float32), False),
        (tff.to_type(tf.float32), tff.to_type(tf.int32), False),
    ],
    ids=[
        "unknown-dim-accepts",
        "known-dim-refuses-unknown",
        "all-equal-fits",
        "not-all-equal-refused",
        "placement",
        "dtype",
    ],
)
def test_is_assignable(target, source, expected):
    assert is_assignable(target, source) is expected


def test_to_spec_round_trips_through_to_type():
    spec = collections.OrderedDict(
        x=tf.TensorSpec([None, 3], tf.float32), y=tf.TensorSpec([], tf.int32)
    )
    assert to_spec(tff.to_type(spec)) == spec
    assert np.all(
        [isinstance(s, tf.TensorSpec) for s in to_spec(tff.to_type([tf.float32, tf.int32]))]
    )


@pytest.mark.parametrize(
    "spec, expected",
    [
        (
            collections.OrderedDict(
                x=tf.TensorSpec([None, 784], tf.float32), y=tf.TensorSpec([None], tf.int32)
            ),
            "<x=float32[?,784],y=int32[?]>",
        ),
        (tf.int64, "int64"),
        (np.float32, "float32"),
        ((tf.TensorSpec([2]), tf.TensorSpec([], tf.int32)), "<float32[2],int32>"),
    ],
    ids=["batch-spec", "tf-dtype", "numpy-type", "tuple-of-specs"],
)
def test_tensorflow_to_type(spec, expected):
    assert str(tff.types.tensorflow_to_type(spec)) == expected


def test_tensorflow_to_type_refuses_python_values():
    with pytest.raises(TypeError, match="expected TensorFlow specs or dtypes, got a int"):
        tff.types.tensorflow_to_type([1, 2])


def test_model_weights_types_convert_to_model_weights():
    # TFF keeps the ModelWeights container in the type; the facade recognises its names.
    weights_type = tff.to_type(
        tff.learning.models.ModelWeights([tf.TensorSpec([2], tf.float32)], [])
    )
    converted = convert(tff.learning.models.ModelWeights([[1.0, 2.0]], []), weights_type)
    assert isinstance(converted, tff.learning.models.ModelWeights)
    np.testing.assert_array_equal(converted.trainable[0], [1.0, 2.0])
    assert isinstance(to_spec(weights_type), tff.learning.models.ModelWeights)
