"""Shamir secret sharing over a prime field (Shamir 1979, "How to Share a Secret").

A secret `s` in `GF(p)` is the constant term of a random polynomial `f` of degree
`t - 1`; share `i` is `(x_i, f(x_i))` for distinct nonzero points `x_i`. Any `t` shares determine `f` and so `s`
(Lagrange interpolation at 0); any `t - 1` shares are uniformly distributed
whatever `s` is, since for every candidate secret exactly one polynomial of
degree `t - 1` passes through them and it.

Secure aggregation shares 32-byte keys, so the default field is `GF(2**521 - 1)`
(a Mersenne prime above every 256-bit secret); a share's value takes 66 bytes.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

PRIME = 2**521 - 1
SHARE_VALUE_BYTES = (PRIME.bit_length() + 7) // 8


class Share(NamedTuple):
    """One share: the evaluation point `x` (1-based) and `f(x)`."""

    x: int
    y: int


def _random_element(rng: np.random.Generator, prime: int) -> int:
    """A uniform element of `GF(prime)` (rejection sampling, so exactly uniform)."""
    bits = prime.bit_length()
    while True:
        value = int.from_bytes(rng.bytes((bits + 7) // 8), "little") & ((1 << bits) - 1)
        if value < prime:
            return value


def split(
    secret: int, threshold: int, points: Sequence[int], rng: np.random.Generator, prime: int = PRIME
) -> list[Share]:
    """Shares of `secret` at the distinct nonzero `points`, any `threshold` of which reconstruct it.

    Raises:
        ValueError: if the secret is outside the field, the points are not
            distinct in `[1, prime)`, or `1 <= threshold <= len(points)` does not hold.
    """
    if not 0 <= secret < prime:
        raise ValueError(f"the secret must be in [0, prime), got {secret}")
    if len(set(points)) != len(points) or not all(0 < x < prime for x in points):
        raise ValueError(f"share points must be distinct and in [1, prime), got {list(points)}")
    if not 1 <= threshold <= len(points):
        raise ValueError(f"need 1 <= threshold <= {len(points)} shares, got threshold {threshold}")
    coefficients = [secret] + [_random_element(rng, prime) for _ in range(threshold - 1)]
    shares = []
    for x in points:
        y = 0
        for coefficient in reversed(coefficients):  # Horner
            y = (y * x + coefficient) % prime
        shares.append(Share(x, y))
    return shares


def reconstruct(shares: Sequence[Share], threshold: int, prime: int = PRIME) -> int:
    """The secret from `threshold` (or more; the first `threshold` are used) distinct shares.

    Raises:
        ValueError: if fewer than `threshold` distinct shares are given.
    """
    distinct = list({share.x: share for share in shares}.values())[:threshold]
    if len(distinct) < threshold:
        raise ValueError(
            f"{len(distinct)} distinct shares cannot reconstruct a secret of threshold {threshold}"
        )
    secret = 0
    for i, (x_i, y_i) in enumerate(distinct):
        numerator, denominator = 1, 1
        for j, (x_j, _) in enumerate(distinct):
            if i != j:
                numerator = numerator * -x_j % prime
                denominator = denominator * (x_i - x_j) % prime
        secret = (secret + y_i * numerator * pow(denominator, -1, prime)) % prime
    return secret
