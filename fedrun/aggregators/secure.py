"""Secure summation that survives dropouts (`type: secure_sum`).

The protocol of Bonawitz et al. 2017 ("Practical Secure Aggregation for
Privacy-Preserving Machine Learning"), simulated message by message in
`fedrun.aggregators.secagg_protocol`:

1. Each client clips its values into `[lower_bound, upper_bound]` and quantizes them
   to integers in `[0, L]` with stochastic rounding (unbiased), where
   `L = (2**bits - 1) // max_clients` so that the sum of a full cohort cannot wrap
   around the modulus `2**bits`.
2. The clients agree on pairwise seeds (X25519), Shamir-share their self-mask seed
   and private key (threshold `t`), and send their quantized values masked with
   the self mask and the pairwise masks, modulo `2**bits`; the masked vectors
   reach the server only through `intrinsics.secure_sum` (their modular sum).
3. The clients still there send shares; the server reconstructs the seeds the
   sum still holds masks of, removes those masks and dequantizes the sum.

`dropout` is the fraction of each round's clients that vanish after sending their
masked input (drawn from the config seed and the round): their values are in the
sum, but they never answer the unmasking, so the server must reconstruct their
self masks from the others' shares.

Clients drop before masking too: every sampled client enters the protocol (the
simulation agrees and shares keys when the round starts, before local training),
and the ones whose update never reaches aggregation (the `stragglers` block's dropouts and
dropped stragglers, clients whose data or training failed or whose update was not
finite) vanish after sharing their keys, before their masked input. Their partners
have already masked with them, so the server reconstructs each one's private key
from the survivors' shares and removes the pairwise masks it left in the sum (the
unmasking round of Bonawitz et al. 2017, for clients of U2 \\ U3): the
protocol counts them as `dropped_after_sharing`, the keys as `keys_reconstructed`
and the masks as `pairwise_masks_removed`. The aggregator tree sees only the values
that arrive, so it is told the sampled cohort's size (`cohort_size`, the run's
`clients_per_round`); the missing clients are those drops.

With fewer than `t` shareholders left for some client the sum cannot be unmasked:
the round's aggregate is NaN, so the finalizer does not apply it
(`finalizer/update_non_finite`), the protocol counts the failure (`failed`), and the
training loop counts the clients of the lost sum in `clients_failed`: none of them
survived, fewer than `min_clients`, so the round fails like one whose clients all
failed (`RoundFailedError`, the last completed round checkpointed). No wrong sum is
ever returned.

With `neighbors: k` each client masks only with its `k` neighbours in a random
Harary graph and shares its secrets among them (SecAgg+, Bell et al. 2020), which
cuts the per-client traffic and the server's work from the cohort size to `k`.

    value_sum:
      type: secure_sum
      bits: 32
      upper_bound: 1.0        # lower_bound defaults to -upper_bound
      dropout: 0.1            # of each round's clients vanish after their masked input
      threshold: null         # shares to unmask; null: a majority of each client's shareholders
      neighbors: null         # SecAgg+: mask and share with k neighbours
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import math
from typing import Any, NamedTuple, Optional

import numpy as np
import tensorflow as tf

from fedrun.aggregators.build import AggregatorContext, ParameterError, register_aggregator
from fedrun.aggregators.factory import UnweightedAggregationFactory
from fedrun.aggregators.nests import check_floating, flatten, num_elements, unflatten, unzip_clients
from fedrun.aggregators.secagg_protocol import Dropouts, ProtocolConfig, run_round
from fedrun.aggregators.seeds import initial_seed, stream_seed
from fedrun.config.params import bounded
from fedrun.core import intrinsics
from fedrun.core.placements import AtClients, AtServer
from fedrun.core.processes import AggregationProcess, MeasuredProcessOutput

logger = logging.getLogger(__name__)

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


def shareholders(num_clients: int, neighbors: Optional[int]) -> int:
    """How many clients hold shares of each client's secrets: its neighbours and itself."""
    if neighbors is None:
        return num_clients
    return min(num_clients, 2 * -(-neighbors // 2) + 1)


def dropout_positions(
    num_clients: int, fraction: float, rng: np.random.Generator
) -> frozenset[int]:
    """`round(fraction * K)` cohort positions (halves rounded up), drawn from `rng`."""
    count = int(math.floor(fraction * num_clients + 0.5))
    return frozenset(int(k) for k in rng.permutation(num_clients)[:count])


class SecureSumFactory(UnweightedAggregationFactory):
    """Sums client values so the server sees only masked vectors and their sum.

    Args:
        upper_bound: Values above are clipped to it before quantization.
        lower_bound: Values below are clipped to it; default `-upper_bound`.
        bits: Width of the modular sum (`2**bits`), at most 62.
        max_clients: The largest cohort this sum serves; with `bits` it fixes the
            quantization levels `L = (2**bits - 1) // max_clients` per client.
        neighbors: Mask and share with this many neighbours (SecAgg+; rounded up
            to even); None: with every other client.
        dropout: Fraction of each round's clients that vanish after sending their
            masked input.
        cohort_size: The clients that enter each round's protocol (the sampled
            cohort); those missing from the values dropped after sharing their keys,
            before their masked input. None: the values' clients are the whole cohort.
        threshold: Shares needed to reconstruct a secret; None: a majority of each
            client's shareholders.
        seed: Seed of masks, keys, dropouts and rounding.

    The result differs from the plain sum by at most `K * (upper - lower) / L` per
    coordinate (stochastic rounding is unbiased), plus clipping; it is NaN in a
    round whose sum could not be unmasked.

    State: `SecureSumState(seed, round_num)`.
    Measurements: `secure_upper_clipped_count`, `secure_lower_clipped_count`
    (clients with any value above / below the bounds), `protocol` (the round's
    protocol measurements: `clients`, `threshold`, `dropped_after_advertising`,
    `dropped_after_sharing`, `dropped_after_input`, `survivors`,
    `unmasking_clients`, `reconstructions`, `keys_reconstructed`,
    `pairwise_masks_removed`, `failed`, `bytes_up`, `bytes_down`,
    `server_seconds`; see `fedrun.aggregators.secagg_protocol`).
    """

    def __init__(
        self,
        upper_bound: float,
        lower_bound: Optional[float] = None,
        *,
        bits: int = 32,
        max_clients: int,
        neighbors: Optional[int] = None,
        dropout: float = 0.0,
        threshold: Optional[int] = None,
        seed: int = 0,
        cohort_size: Optional[int] = None,
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
        if not 0 <= dropout < 1:
            raise ValueError(f"secure_sum dropout must be in [0, 1), got {dropout}")
        if threshold is not None and not 1 <= threshold <= shareholders(max_clients, neighbors):
            raise ValueError(
                f"secure_sum threshold must be in [1, {shareholders(max_clients, neighbors)}] "
                f"(each client's shareholders), got {threshold}"
            )
        self.upper_bound, self.lower_bound = float(upper_bound), float(lower_bound)
        self.bits, self.max_clients, self.neighbors, self.seed = bits, max_clients, neighbors, seed
        if cohort_size is not None and not 1 <= cohort_size <= max_clients:
            raise ValueError(
                f"secure_sum cohort_size must be in [1, {max_clients}] (max_clients), got {cohort_size}"
            )
        self.dropout, self.threshold, self.cohort_size = float(dropout), threshold, cohort_size
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
        protocol = ProtocolConfig(self.bits, self.threshold, self.neighbors)

        def initialize() -> SecureSumState:
            return SecureSumState(initial_seed(self.seed, "secure_sum"), tf.constant(0, tf.int64))

        def transport(masked: np.ndarray) -> np.ndarray:
            return intrinsics.secure_sum(
                AtClients(tf.constant(masked), masked.shape[0]), self.bits
            ).value.numpy()

        def next_fn(state: SecureSumState, value: AtClients) -> MeasuredProcessOutput:
            count = value.num_clients
            if count > self.max_clients:
                raise ValueError(
                    f"secure_sum was built for at most {self.max_clients} clients (its sum could overflow), got {count}"
                )
            # Client-side randomness, one row per client: the rounding noise; the
            # protocol's keys, seeds and dropouts come from its own stream.
            rounding = tf.random.stateless_uniform(
                [count, dim], seed=stream_seed(state.seed, state.round_num, "rounding")
            )
            client_inputs = (
                value,
                AtClients(rounding, count),
                intrinsics.broadcast(AtServer(bounds), count),
            )
            integers, above, below = unzip_clients(intrinsics.map(quantize, client_inputs))
            entered = count if self.cohort_size is None else self.cohort_size
            if count > entered:
                raise ValueError(
                    f"secure_sum got {count} clients' values, more than the cohort of {entered} that entered the protocol"
                )
            rng = np.random.default_rng(
                stream_seed(state.seed, state.round_num, "protocol").numpy().astype(np.uint64)
            )
            dropouts = Dropouts(
                # The clients whose values never arrived take the last positions;
                # the masking graph is a random permutation, so where they sit is immaterial.
                after_sharing=frozenset(range(count, entered)),
                after_input=dropout_positions(count, self.dropout, rng),
            )
            inputs = np.zeros((entered, dim), np.int64)  # rows of the dropped are never read
            inputs[:count] = integers.value.numpy()
            outcome = run_round(inputs, protocol, dropouts, rng, transport)
            lower, upper, levels, _ = bounds
            if outcome.total is None:
                round_num = int(state.round_num) + 1
                logger.warning(
                    "secure_sum round %d: the sum cannot be unmasked: %s; its update is not applied "
                    "and its clients count as failed",
                    round_num,
                    outcome.failure,
                )
                dequantized = tf.fill([dim], tf.constant(np.nan, tf.float64))
            else:
                survivors = outcome.measurements["survivors"]
                dequantized = (
                    tf.constant(outcome.total, tf.float64) * ((upper - lower) / levels)
                    + lower * survivors
                )
            measurements = collections.OrderedDict(
                secure_upper_clipped_count=intrinsics.sum(above).value,
                secure_lower_clipped_count=intrinsics.sum(below).value,
                protocol=collections.OrderedDict(
                    (
                        key,
                        tf.constant(number, tf.float64 if isinstance(number, float) else tf.int64),
                    )
                    for key, number in outcome.measurements.items()
                ),
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
    dropout: float = bounded(0.0, ge=0.0, lt=1.0)
    threshold: Optional[int] = bounded(None, ge=1)

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
    holders = shareholders(context.clients_per_round, p.neighbors)
    if p.threshold is not None and p.threshold > holders:
        raise ParameterError(
            "threshold",
            "exceeds the shareholders of each client (its neighbours and itself)",
            p.threshold,
            f"1..{holders}",
        )
    return SecureSumFactory(
        p.upper_bound,
        p.lower_bound,
        bits=p.bits,
        max_clients=context.clients_per_round,
        neighbors=p.neighbors,
        dropout=p.dropout,
        threshold=p.threshold,
        seed=context.seed,
        cohort_size=context.clients_per_round,
    )
