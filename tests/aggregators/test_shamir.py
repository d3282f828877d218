"""Shamir sharing: any `t` shares reconstruct the secret, fewer are refused, and any
`t - 1` shares are distributed the same whatever the secret (exhaustively over
small fields)."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedrun.aggregators.shamir import PRIME, Share, reconstruct, split


@settings(max_examples=60, deadline=None)
@given(
    secret=st.integers(0, PRIME - 1),
    threshold=st.integers(1, 6),
    extra=st.integers(0, 4),
    seed=st.integers(0, 2**32),
    data=st.data(),
)
def test_any_t_shares_reconstruct_and_t_minus_one_do_not(secret, threshold, extra, seed, data):
    points = list(range(1, threshold + extra + 1))
    shares = split(secret, threshold, points, np.random.default_rng(seed))
    subset = data.draw(
        st.lists(st.sampled_from(shares), min_size=threshold, max_size=len(shares), unique=True)
    )
    assert reconstruct(subset, threshold) == secret
    with pytest.raises(ValueError, match="cannot reconstruct"):
        reconstruct(subset[: threshold - 1], threshold)


class ScriptedBytes:
    """Stands in for the generator: hands out the given field elements as coefficients."""

    def __init__(self, values, width):
        self.values, self.width = list(values), width

    def bytes(self, count):
        assert count == self.width
        return self.values.pop(0).to_bytes(count, "little")


@pytest.mark.parametrize(
    "prime, threshold, points",
    [(11, 2, [1, 2, 3]), (11, 3, [2, 5, 7, 9]), (13, 3, [1, 2, 3]), (7, 4, [1, 3, 4, 5, 6])],
    ids=["gf11-t2", "gf11-t3-sparse-points", "gf13-t3", "gf7-t4"],
)
def test_t_minus_one_shares_are_independent_of_the_secret(prime, threshold, points):
    """Over every polynomial, each set of `t - 1` share values occurs exactly once for every secret."""
    width = (prime.bit_length() + 7) // 8
    for subset in itertools.combinations(range(len(points)), threshold - 1):
        seen_per_secret = []
        for secret in range(prime):
            seen = []
            for coefficients in itertools.product(range(prime), repeat=threshold - 1):
                shares = split(secret, threshold, points, ScriptedBytes(coefficients, width), prime)
                assert (
                    reconstruct(shares, threshold, prime) == secret
                )  # while t shares determine it
                seen.append(tuple(shares[k].y for k in subset))
            seen_per_secret.append(sorted(seen))
        assert len(set(seen_per_secret[0])) == prime ** (threshold - 1)  # uniform: every value once
        assert all(seen == seen_per_secret[0] for seen in seen_per_secret)


def test_coefficients_are_uniform_by_rejection():
    """Bytes above the prime are redrawn, not reduced (a reduction would bias the shares)."""
    rng = ScriptedBytes([200, 12, 11, 4], 1)
    # 200 masked to 4 bits is 8 < 11, kept: f(x) = 3 + 8x.
    assert split(3, 2, [1, 2], rng, 11) == [Share(1, 0), Share(2, 8)]
    # 12 and 11 are not elements of GF(11) and are redrawn; 4 is kept: f(x) = 3 + 4x.
    assert split(3, 2, [1, 2], rng, 11) == [Share(1, 7), Share(2, 0)]


@pytest.mark.parametrize(
    "secret, threshold, points, message",
    [
        (-1, 1, [1], "secret"),
        (PRIME, 1, [1], "secret"),
        (1, 3, [1, 2], "threshold"),
        (1, 1, [0], "points"),
        (1, 2, [1, 1], "points"),
    ],
    ids=["negative", "outside-field", "threshold-above-shares", "zero-point", "repeated-point"],
)
def test_bad_arguments_are_refused(secret, threshold, points, message):
    with pytest.raises(ValueError, match=message):
        split(secret, threshold, points, np.random.default_rng(0))
