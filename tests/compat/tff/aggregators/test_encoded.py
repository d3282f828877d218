"""`tff.aggregators.EncodedSumFactory`: what it refuses (its numbers are checked by
the tuning_recommended_aggregators tutorial's tests)."""

import numpy as np
import pytest

import fedrun.compat.tff as tff


@pytest.mark.parametrize(
    "call, error, message",
    [
        (
            lambda: tff.aggregators.EncodedSumFactory(lambda spec: None),
            tff.UnsupportedError,
            "encoder",
        ),
        (
            lambda: tff.aggregators.EncodedSumFactory.quantize_above_threshold(8, 10, min_max=True),
            tff.UnsupportedError,
            "min_max",
        ),
        (
            lambda: tff.aggregators.EncodedSumFactory.quantize_above_threshold(0),
            ValueError,
            "quantization_bits=0",
        ),
        (
            lambda: tff.aggregators.EncodedSumFactory.quantize_above_threshold(8, -1),
            ValueError,
            "threshold=-1",
        ),
        (
            lambda: tff.aggregators.EncodedSumFactory.quantize_above_threshold(8, 1.5),
            TypeError,
            "threshold=1.5",
        ),
        (
            lambda: tff.aggregators.EncodedSumFactory.quantize_above_threshold().create(
                tff.TensorType(np.int32, [2])
            ),
            TypeError,
            "EncodedSumFactory",
        ),
    ],
    ids=[
        "encoder-fn",
        "encoder-kwargs",
        "zero-bits",
        "negative-threshold",
        "float-threshold",
        "int-values",
    ],
)
def test_what_it_refuses(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_is_an_unweighted_factory_with_seeded_state():
    factory = tff.aggregators.EncodedSumFactory.quantize_above_threshold()
    assert isinstance(factory, tff.aggregators.UnweightedAggregationFactory)
    process = factory.create(tff.TensorType(np.float32, [3]))
    assert str(process.next.type_signature) == (
        "(<state=<seed=int64[2],round_num=int64>@SERVER,value={float32[3]}@CLIENTS> -> "
        "<state=<seed=int64[2],round_num=int64>@SERVER,result=float32[3]@SERVER,measurements=<>@SERVER>)"
    )
