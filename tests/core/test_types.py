"""Printed forms of types, as TFF prints them."""

import collections

import numpy as np
import pytest
import tensorflow as tf

from fedrun.core.placements import CLIENTS, SERVER
from fedrun.core.types import (
    FederatedType,
    FunctionType,
    SequenceType,
    StructType,
    TensorType,
    to_type,
)


@pytest.mark.parametrize(
    "value, expected",
    [
        (TensorType(tf.float32), "float32"),
        (TensorType(tf.float32, [784, 10]), "float32[784,10]"),
        (TensorType(tf.int32, [None, 1]), "int32[?,1]"),
        (StructType([]), "<>"),
        (
            StructType([("a", tf.TensorSpec([2])), ("b", tf.TensorSpec([], tf.int64))]),
            "<a=float32[2],b=int64>",
        ),
        (FederatedType(TensorType(tf.float32), SERVER), "float32@SERVER"),
        (FederatedType(TensorType(tf.float32), CLIENTS, all_equal=False), "{float32}@CLIENTS"),
        (FunctionType(None, FederatedType(StructType([]), SERVER)), "( -> <>@SERVER)"),
        (to_type(np.float32), "float32"),
        (to_type(np.dtype("int64")), "int64"),
        (to_type((np.int32, [2])), "int32[2]"),
        (StructType([("a", np.float32), ("b", np.int32)]), "<a=float32,b=int32>"),
        (SequenceType(np.float32), "float32*"),
        (SequenceType(collections.OrderedDict(A=tf.int32, B=np.int32)), "<A=int32,B=int32>*"),
    ],
    ids=[
        "scalar",
        "matrix",
        "unknown-dim",
        "empty-struct",
        "named-struct",
        "at-server",
        "at-clients",
        "no-arg-function",
        "numpy-scalar-type",
        "numpy-dtype",
        "numpy-pair",
        "numpy-struct",
        "sequence-of-dtype",
        "sequence-of-mapping",
    ],
)
def test_compact_form(value, expected):
    assert str(value) == expected


def test_to_type_names_mappings_and_namedtuples():
    Pair = collections.namedtuple("Pair", "first second")
    t = to_type({"w": Pair(tf.zeros([2]), tf.zeros([], tf.int64)), "empty": ()})
    assert str(t) == "<w=<first=float32[2],second=int64>,empty=<>>"


def test_formatted_representation_matches_tff_layout():
    state = StructType(
        [
            (
                "global_model_weights",
                StructType(
                    [
                        (
                            "trainable",
                            StructType(
                                [TensorType(tf.float32, [784, 10]), TensorType(tf.float32, [10])]
                            ),
                        ),
                        ("non_trainable", StructType([])),
                    ]
                ),
            ),
            ("distributor", StructType([])),
        ]
    )
    text = FunctionType(None, FederatedType(state, SERVER)).formatted_representation()
    assert text == (
        "( -> <\n"
        "  global_model_weights=<\n"
        "    trainable=<\n"
        "      float32[784,10],\n"
        "      float32[10]\n"
        "    >,\n"
        "    non_trainable=<>\n"
        "  >,\n"
        "  distributor=<>\n"
        ">@SERVER)"
    )


def test_sequence_at_clients_prints_with_star_inside_braces():
    seq = SequenceType(
        to_type({"x": tf.TensorSpec([None, 784]), "y": tf.TensorSpec([None, 1], tf.int32)})
    )
    assert (
        str(FederatedType(seq, CLIENTS, all_equal=False))
        == "{<x=float32[?,784],y=int32[?,1]>*}@CLIENTS"
    )


def test_named_members_read_as_attributes():
    weights = StructType(
        [
            ("trainable", StructType([TensorType(tf.float32, [2])])),
            ("non_trainable", StructType([])),
        ]
    )
    assert str(weights.trainable) == "<float32[2]>"
    assert weights.trainable == weights["trainable"]
    with pytest.raises(AttributeError, match="no member or attribute 'bias'"):
        _ = weights.bias
