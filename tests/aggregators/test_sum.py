"""The plain sum."""

import numpy as np
import tensorflow as tf

from fedrun.aggregators.sum import SumFactory
from fedrun.core.placements import AtClients


def test_signature():
    process = SumFactory().create(tf.TensorSpec([2]))
    assert str(process.next.type_signature) == (
        "(<state=<>@SERVER,value={float32[2]}@CLIENTS> -> <state=<>@SERVER,result=float32[2]@SERVER,measurements=<>@SERVER>)"
    )


def test_sums_every_leaf_of_a_nest():
    spec = {"a": tf.TensorSpec([2]), "b": tf.TensorSpec([], tf.int32)}
    values = AtClients(
        {"a": tf.constant([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]), "b": tf.constant([1, 2, 3])}, 3
    )
    output = SumFactory().create(spec).next((), values)
    np.testing.assert_array_equal(output.result.value["a"].numpy(), [9.0, 12.0])
    assert int(output.result.value["b"]) == 6
