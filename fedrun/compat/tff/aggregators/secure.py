"""TFF's `SecureSumFactory` on fedrun's secure sum (`fedrun.aggregators.secure`).

For floating-point values TFF clips them into `[lower_bound_threshold,
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
from fedrun.compat.tff.aggregators.robust import PrivateQuantileEstimationProcess
from fedrun.compat.tff.aggregators.secure_bounds import AdaptiveSecureSum, IntegerSecureSum
from fedrun.compat.tff.errors import FacadeTypeError, FacadeValueError
from fedrun.compat.tff.unsupported import UnsupportedError

TFF_MAX_CLIENTS = (
    2**30
)  # with 62 bits, leaves each client 2**32 - 1 levels, as TFF's 32-bit quantization


def _is_integer(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _threshold(value: Any, argument: str) -> float:
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise UnsupportedError(
            f"{argument}: estimation processes other than tff.aggregators.PrivateQuantileEstimationProcess.no_noise(...) "
            "as upper_bound_threshold alone are not supported; fedrun's secure sum takes fixed bounds "
            "(fedrun.aggregators.secure.SecureSumFactory(upper_bound, lower_bound)); to keep values inside them, "
            "bound their norm first with tff.aggregators.clipping_factory"
        )
    return float(value)


def _integer_sum(upper: Any, lower: Any) -> IntegerSecureSum:
    if lower is not None and not _is_integer(lower):
        raise FacadeTypeError(
            f"lower_bound_threshold={lower!r}: must be an integer like upper_bound_threshold={upper!r}"
        )
    lower = -upper if lower is None else lower
    if not lower < upper:
        raise FacadeValueError(
            f"SecureSumFactory needs lower_bound < upper_bound, got [{lower}, {upper}]"
        )
    return IntegerSecureSum(int(upper), int(lower))


class SecureSumFactory(Wrapped, UnweightedAggregationFactory):
    """The sum of client values that the server sees only masked.

    The thresholds choose the sum, as in TFF:

    * floats: float values clipped into `[lower, upper]` and summed by fedrun's
      `SecureSumFactory` (quantized, masked);
    * integers: integer values clipped into `[lower, upper]` and summed exactly
      with fedrun's modular `secure_sum` (`secure_bounds.IntegerSecureSum`);
    * `PrivateQuantileEstimationProcess.no_noise(...)` as `upper_bound_threshold`
      alone: float values clipped into `[-B, B]`, `B` adapting every round to a
      quantile of the clients' largest absolute values (`secure_bounds.AdaptiveSecureSum`).

    Args:
        upper_bound_threshold: Values above are clipped to it.
        lower_bound_threshold: Values below are clipped to it; default `-upper_bound_threshold`.
        bits: (fedrun) Width of the modular sum of float values.
        max_clients: (fedrun) The largest cohort the float sum serves; with `bits` it
            sets the quantization levels per client.
        neighbors: (fedrun) Mask with this many ring neighbours; None: with every other client.
        seed: (fedrun) Seed of the masks and the stochastic rounding.

    State `SecureSumState(seed, round_num)` (integers: `()`; adaptive:
    `AdaptiveSecureSumState(bound, secure_sum)`); measurements
    `secure_upper_clipped_count`, `secure_lower_clipped_count` (floats: then
    `protocol`; adaptive: then `secure_upper_threshold`, `secure_lower_threshold`).
    """

    def __init__(
        self,
        upper_bound_threshold: Any,
        lower_bound_threshold: Optional[Any] = None,
        *,
        bits: int = MAX_BITS,
        max_clients: int = TFF_MAX_CLIENTS,
        neighbors: Optional[int] = None,
        seed: int = 0,
    ) -> None:
        options = dict(bits=bits, max_clients=max_clients, neighbors=neighbors, seed=seed)
        self.native = _native_sum(upper_bound_threshold, lower_bound_threshold, options)


def _native_sum(upper: Any, lower: Any, options: dict) -> Any:
    """The fedrun factory the thresholds select."""
    if isinstance(upper, PrivateQuantileEstimationProcess):
        if lower is not None:
            raise UnsupportedError(
                "lower_bound_threshold: with an estimated upper_bound_threshold fedrun bounds values by "
                "[-estimate, estimate]; leave lower_bound_threshold unset"
            )
        return AdaptiveSecureSum(upper.native, **options)
    if _is_integer(upper):
        return _integer_sum(upper, lower)
    upper = _threshold(upper, "upper_bound_threshold")
    lower = None if lower is None else _threshold(lower, "lower_bound_threshold")
    return NativeSecureSumFactory(upper, lower, **options)


__all__ = ["SecureSumFactory"]
