"""Printed forms of types, as TFF prints them."""

import collections

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
