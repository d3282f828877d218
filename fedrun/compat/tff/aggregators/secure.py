"""TFF's `SecureSumFactory` on fedrun's secure sum (`fedrun.aggregators.secure`).

TFF clips floating-point values into `[lower_bound_threshold,
upper_bound_threshold]`, quantizes each client's values to 32-bit integers and
sums them with `federated_secure_sum_bitwidth`. fedrun's secure sum does the same
with pairwise masks: with the defaults below each client's value is quantized to
`(2**62 - 1) // 2**30 = 2**32 - 1` levels, TFF's resolution, and the result lies
within `K * (upper - lower) / (2**32 - 1)` of the clipped sum for `K` clients.
"""

from __future__ import annotations

import numbers
from typing import Any, Optional

import numpy as np

from fedrun.aggregators.secure import MAX_BITS
from fedrun.aggregators.secure import SecureSumFactory as NativeSecureSumFactory
from fedrun.compat.tff.aggregators.factories import UnweightedAggregationFactory, Wrapped
from fedrun.compat.tff.unsupported import UnsupportedError

TFF_MAX_CLIENTS = (
    2**30
)  # with 62 bits, leaves each client 2**32 - 1 levels, as TFF's 32-bit quantization


def _threshold(value: Any, argument: str) -> float:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        raise UnsupportedError(
            f"{argument}={value!r}: an integer threshold selects TFF's secure sum of integer values, which fedrun does not "
            f"provide; pass a float threshold (e.g. {float(value)}) to sum floating-point values, or sum integers with "
            "tff.federated_secure_sum_bitwidth (fedrun.core.intrinsics.secure_sum)"
        )
    if not isinstance(value, numbers.Real):
        raise UnsupportedError(
            f"{argument}: adaptive thresholds (estimation processes) are not supported; fedrun's secure sum takes fixed "
            "bounds (fedrun.aggregators.secure.SecureSumFactory(upper_bound, lower_bound)); to keep values inside them, "
            "bound their norm first with tff.aggregators.clipping_factory"
        )
    return float(value)


class SecureSumFactory(Wrapped, UnweightedAggregationFactory):
    """The sum of client values that the server sees only masked (fedrun's `SecureSumFactory`).

    Args:
        upper_bound_threshold: Values above are clipped to it (a float).
        lower_bound_threshold: Values below are clipped to it; default `-upper_bound_threshold`.
        bits: (fedrun) Width of the modular sum.
        max_clients: (fedrun) The largest cohort the sum serves; with `bits` it sets
            the quantization levels per client.
        neighbors: (fedrun) Mask with this many ring neighbours; None: with every other client.
        seed: (fedrun) Seed of the masks and the stochastic rounding.

    State `SecureSumState(seed, round_num)`; measurements `secure_upper_clipped_count`,
    `secure_lower_clipped_count`.
    """

    def __init__(
        self,
        upper_bound_threshold: float,
        lower_bound_threshold: Optional[float] = None,
        *,
        bits: int = MAX_BITS,
        max_clients: int = TFF_MAX_CLIENTS,
        neighbors: Optional[int] = None,
        seed: int = 0,
    ) -> None:
        upper = _threshold(upper_bound_threshold, "upper_bound_threshold")
        lower = (
            None
            if lower_bound_threshold is None
            else _threshold(lower_bound_threshold, "lower_bound_threshold")
        )
        self.native = NativeSecureSumFactory(
            upper, lower, bits=bits, max_clients=max_clients, neighbors=neighbors, seed=seed
        )


__all__ = ["SecureSumFactory"]
