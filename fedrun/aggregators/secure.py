"""Secure summation with pairwise additive masks (`type: secure_sum`).

The protocol of Bonawitz et al. 2017 ("Practical Secure Aggregation for
Privacy-Preserving Machine Learning"), simulated without dropouts:

1. Each client clips its values into `[lower_bound, upper_bound]` and quantizes them
   to integers in `[0, L]` with stochastic rounding (unbiased), where
   `L = (2**bits - 1) // max_clients` so that the sum of a full cohort cannot wrap
   around the modulus `2**bits`.
2. Every pair of clients (i, j) shares a seed; both expand it with a PRG, i adds the
   stream and j subtracts it, modulo `2**bits`. A masked vector alone is uniform
   over the integers modulo `2**bits` and says nothing about the client's value;
   the masks cancel in the sum.
3. The server receives the masked vectors only through `intrinsics.secure_sum`
   (their modular sum) and dequantizes that sum.

A cohort of one has nobody to mask with; its sum is its value anyway. Masking with
every other client costs each client `K - 1` PRG streams. With
`neighbors: k` each client masks only with its `k` ring neighbours (a k-regular
Harary graph, as in SecAgg+, Bell et al. 2020), which keeps the cancellation and
the uniformity of single masked vectors at `k` streams per client. Masks are built
one ring offset at a time, so memory stays at two `[K, D]` integer matrices however
large the cohort. In this simulation the streams of all pairs at one ring offset
are drawn in one call (row i is the stream of the pair (i, i + offset)); a
deployment derives each pair's seed by key agreement instead.

    value_sum:
      type: secure_sum
      bits: 32
      upper_bound: 1.0        # lower_bound defaults to -upper_bound
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Any, NamedTuple, Optional

import tensorflow as tf

from fedrun.aggregators.build import AggregatorContext, ParameterError, register_aggregator
from fedrun.aggregators.factory import UnweightedAggregationFactory
from fedrun.aggregators.nests import check_floating, flatten, num_elements, unflatten, unzip_clients
from fedrun.aggregators.seeds import initial_seed, stream_seed
from fedrun.config.params import bounded
from fedrun.core import intrinsics
from fedrun.core.placements import AtClients, AtServer
from fedrun.core.processes import AggregationProcess, MeasuredProcessOutput

MAX_BITS = 62  # the widest modular sum `intrinsics.secure_sum` carries in int64


def min_bits(num_clients: int) -> int:
    """The narrowest modulus `2**bits` in which `num_clients` values of at least one level cannot wrap."""
    return max(1, int(num_clients).bit_length())


def overflow_problem(bits: int, num_clients: int) -> Optional[str]:
    """Why a `bits`-wide modular sum cannot serve `num_clients` clients, or None."""
    if bits < min_bits(num_clients):
        return (
            f"a sum modulo 2**{bits} overflows for a cohort of {num_clients} clients "
            f"(needs bits >= {min_bits(num_clients)}; more bits give finer quantization)"
        )
    return None


class SecureSumState(NamedTuple):
    """State of a secure sum.

    Attributes:
        seed: `int64[2]` seed of the masks and the stochastic rounding.
        round_num: Rounds aggregated so far (fresh masks every round).
    """

    seed: tf.Tensor
    round_num: tf.Tensor


def quantize(
    value: Any, uniform: tf.Tensor, bounds: tuple
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """One client's value clipped and stochastically rounded to integers in `[0, levels]`.

    Returns the integer vector and whether any value was above / below the bounds.
    NaN values count as 0.
    """
    lower, upper, levels, _ = bounds
    x = tf.cast(flatten(value), tf.float64)
    x = tf.where(tf.math.is_nan(x), tf.zeros_like(x), x)
    above, below = tf.reduce_any(x > upper), tf.reduce_any(x < lower)
    scaled = (tf.clip_by_value(x, lower, upper) - lower) / (upper - lower) * levels
    integers = tf.clip_by_value(
        tf.cast(tf.floor(scaled + tf.cast(uniform, tf.float64)), tf.int64),
        0,
        tf.cast(levels, tf.int64),
    )
    return integers, tf.cast(above, tf.int32), tf.cast(below, tf.int32)


def encode_client(
    value: Any, uniform: tf.Tensor, mask: tf.Tensor, bounds: tuple
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """One client: its quantized value plus its mask modulo `2**bits`, and its clip flags."""
    integers, above, below = quantize(value, uniform, bounds)
    return tf.math.floormod(integers + mask, bounds[3]), above, below


def uniform_bits(shape: list[int], seed: tf.Tensor, bits: int) -> tf.Tensor:
    """Integers uniform over `[0, 2**bits)` (int64), from whole 32-bit words (no range reduction)."""
    words = tf.random.stateless_uniform(
        shape + [1 if bits <= 32 else 2], seed, minval=None, maxval=None, dtype=tf.uint32
    )
    words = tf.cast(words, tf.int64)
    value = (
        words[..., 0]
        if bits <= 32
        else tf.bitwise.bitwise_or(tf.bitwise.left_shift(words[..., 0], 32), words[..., 1])
    )
    return tf.bitwise.bitwise_and(value, 2**bits - 1)


@tf.function(reduce_retracing=True)
def pairwise_masks(
    seed: tf.Tensor, num_clients: int, dim: int, num_offsets: int, bits: int
) -> tf.Tensor:
    """Every client's mask, `[num_clients, dim]` int64, summing to 0 modulo `2**bits`.

    Client i masks with the clients at ring offsets `1..num_offsets` on either side:
    it adds the stream of each pair (i, i + offset) and subtracts that of
    (i - offset, i).
    """
    masks = tf.zeros([num_clients, dim], tf.int64)
    for offset in tf.range(1, num_offsets + 1):
        streams = uniform_bits(
            [num_clients, dim], tf.random.experimental.stateless_fold_in(seed, offset), bits
        )
        # `& (2**bits - 1)` is the reduction modulo 2**bits (also of negative int64).
        masks = tf.bitwise.bitwise_and(
            masks + streams - tf.roll(streams, shift=offset, axis=0), 2**bits - 1
        )
    return masks


def num_mask_offsets(num_clients: int, neighbors: Optional[int]) -> int:
    """Ring offsets each client masks with: all pairs, or `neighbors` ring neighbours."""
    all_pairs = num_clients // 2
    return all_pairs if neighbors is None else min(all_pairs, -(-neighbors // 2))


class SecureSumFactory(UnweightedAggregationFactory):
    """Sums client values so the server sees only masked vectors and their sum.

    Args:
        upper_bound: Values above are clipped to it before quantization.
        lower_bound: Values below are clipped to it; default `-upper_bound`.
        bits: Width of the modular sum (`2**bits`), at most 62.
        max_clients: The largest cohort this sum serves; with `bits` it fixes the
            quantization levels `L = (2**bits - 1) // max_clients` per client.
        neighbors: Mask with this many ring neighbours (rounded up to even); None:
            with every other client.
        seed: Seed of masks and rounding.

    The result differs from the plain sum by at most `K * (upper - lower) / L` per
    coordinate (stochastic rounding is unbiased), plus clipping.

    State: `SecureSumState(seed, round_num)`.
    Measurements: `secure_upper_clipped_count`, `secure_lower_clipped_count`
    (clients with any value above / below the bounds).
    """

    def __init__(
        self,
        upper_bound: float,
        lower_bound: Optional[float] = None,
        *,
        bits: int = 32,
        max_clients: int,
        neighbors: Optional[int] = None,
        seed: int = 0,
    ) -> None:
        lower_bound = -upper_bound if lower_bound is None else lower_bound
        if not lower_bound < upper_bound:
            raise ValueError(
                f"secure_sum needs lower_bound < upper_bound, got [{lower_bound}, {upper_bound}]"
            )
        if not 1 <= bits <= MAX_BITS:
            raise ValueError(f"secure_sum bits must be in [1, {MAX_BITS}], got {bits}")
        problem = overflow_problem(bits, max_clients)
        if problem:
            raise ValueError(problem)
        self.upper_bound, self.lower_bound = float(upper_bound), float(lower_bound)
        self.bits, self.max_clients, self.neighbors, self.seed = bits, max_clients, neighbors, seed
        self.levels = (2**bits - 1) // max_clients

    def create(self, value_spec: Any) -> AggregationProcess:
        check_floating(value_spec, "secure_sum")
        dim = num_elements(value_spec)
        bounds = (
            tf.constant(self.lower_bound, tf.float64),
            tf.constant(self.upper_bound, tf.float64),
            tf.constant(float(self.levels), tf.float64),
            tf.constant(2**self.bits, tf.int64),
        )

        def initialize() -> SecureSumState:
            return SecureSumState(initial_seed(self.seed, "secure_sum"), tf.constant(0, tf.int64))

        def next_fn(state: SecureSumState, value: AtClients) -> MeasuredProcessOutput:
            count = value.num_clients
            if count > self.max_clients:
                raise ValueError(
                    f"secure_sum was built for at most {self.max_clients} clients (its sum could overflow), got {count}"
                )
            # Client-side randomness, one row per client: rounding noise and masks.
            rounding = tf.random.stateless_uniform(
                [count, dim], seed=stream_seed(state.seed, state.round_num, "rounding")
            )
            offsets = num_mask_offsets(count, self.neighbors)
            masks = pairwise_masks(
                stream_seed(state.seed, state.round_num, "masks"), count, dim, offsets, self.bits
            )
            client_inputs = (
                value,
                AtClients(rounding, count),
                AtClients(masks, count),
                intrinsics.broadcast(AtServer(bounds), count),
            )
            masked, above, below = unzip_clients(intrinsics.map(encode_client, client_inputs))
            total = intrinsics.secure_sum(masked, self.bits).value
            lower, upper, levels, _ = bounds
            dequantized = tf.cast(total, tf.float64) * ((upper - lower) / levels) + lower * count
            measurements = collections.OrderedDict(
                secure_upper_clipped_count=intrinsics.sum(above).value,
                secure_lower_clipped_count=intrinsics.sum(below).value,
            )
            new_state = SecureSumState(state.seed, state.round_num + 1)
            return MeasuredProcessOutput(
                new_state, AtServer(unflatten(dequantized, value_spec)), measurements
            )

        return AggregationProcess(initialize, next_fn, value_spec)


@dataclasses.dataclass(frozen=True)
class SecureSumParams:
    """Parameters of `type: secure_sum`."""

    upper_bound: float
    lower_bound: Optional[float] = None
    bits: int = bounded(32, ge=1, le=MAX_BITS)
    neighbors: Optional[int] = bounded(None, ge=2)

    def __post_init__(self) -> None:
        lower = -self.upper_bound if self.lower_bound is None else self.lower_bound
        if not lower < self.upper_bound:
            raise ValueError(f"needs lower_bound < upper_bound, got [{lower}, {self.upper_bound}]")


@register_aggregator("secure_sum", SecureSumParams)
def _secure_sum(p: SecureSumParams, context: AggregatorContext) -> SecureSumFactory:
    """Masked modular sum of quantized values (secure aggregation)."""
    problem = overflow_problem(p.bits, context.clients_per_round)
    if problem:
        raise ParameterError(
            "bits", problem, p.bits, f"{min_bits(context.clients_per_round)}..{MAX_BITS}"
        )
    return SecureSumFactory(
        p.upper_bound,
        p.lower_bound,
        bits=p.bits,
        max_clients=context.clients_per_round,
        neighbors=p.neighbors,
        seed=context.seed,
    )
