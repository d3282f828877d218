"""`tff.simulation.build_uniform_sampling_fn` against numpy and a Lehmer sequence by hand."""

import numpy as np
import pytest

import fedrun.compat.tff as tff


def test_seeded_rounds_follow_the_lehmer_sequence():
    sample = tff.simulation.build_uniform_sampling_fn(list(range(100)), random_seed=7)
    start = np.random.RandomState(7).randint(1, 2**31 - 2)
    for round_num in (0, 1, 5):
        seed = pow(16807, round_num, 2**31 - 1) * start % (2**31 - 1)
        expected = np.random.RandomState(seed).choice(100, size=4, replace=False).tolist()
        assert sample(round_num, 4) == expected
    assert sample(3, 4) == sample(3, 4)
    assert len(set(sample(2, 10))) == 10


@pytest.mark.parametrize(
    "args, error, match",
    [
        (("abc",), TypeError, "sample_range must be a sequence"),
        (([1, 2], False, "7"), TypeError, "random_seed must be an int"),
    ],
    ids=["string-range", "string-seed"],
)
def test_bad_arguments(args, error, match):
    with pytest.raises(error, match=match):
        tff.simulation.build_uniform_sampling_fn(*args)


def test_too_many_without_replacement():
    sample = tff.simulation.build_uniform_sampling_fn([1, 2, 3], random_seed=0)
    with pytest.raises(ValueError, match="cannot sample 4 clients"):
        sample(0, 4)
