import numpy as np
import pytest

import fedrun.compat.tff as tff


def test_tensorflow_computation_is_the_decorator_for_tensorflow_code():
    @tff.tensorflow.computation(np.float32, np.int32)
    def scale(x, n):
        return x * 2.0, n + 1

    assert str(scale.type_signature) == "(<x=float32,n=int32> -> <float32,int32>)"
    assert scale(1.5, 2) == (3.0, 3)


def test_unprovided_tensorflow_names_say_so():
    with pytest.raises(
        tff.UnsupportedError, match="tff.tensorflow.transform_args is not supported"
    ):
        _ = tff.tensorflow.transform_args
