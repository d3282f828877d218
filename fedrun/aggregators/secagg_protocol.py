"""One round of secure aggregation with dropouts, message by message.

The protocol of Bonawitz et al. 2017 ("Practical Secure Aggregation for
Privacy-Preserving Machine Learning", honest-but-curious server), with the sparse
masking graph of SecAgg+ (Bell et al. 2020, "Secure Single-Server Aggregation with
(Poly)Logarithmic Overhead") when `neighbors` is set. Each client `u` has a set of
neighbours `N(u)` (every other client, or its ring neighbours in a random Harary
graph of degree `neighbors`); its shareholders are `N(u)` and itself.

1. Advertise keys: `u` draws an X25519 key pair and sends its public key; the
   server relays the neighbours' public keys. (U1: clients that advertised.)
2. Share keys: `u` draws a self-mask seed `b_u` and Shamir-shares it and its
   X25519 private key among its shareholders, threshold `t` (`fedrun.aggregators.shamir`),
   each pair of shares encrypted to its holder and relayed by the server. (U2.)
3. Masked input: `u` sends `y_u = x_u + PRG(b_u) + sum_v +-PRG(s_uv)` modulo
   `2**bits`, over its neighbours `v` in U2, where `s_uv` is the hash of the
   X25519 agreement of `u` and `v` (`+` if `u < v`), so the pairwise masks of
   two senders cancel in the sum. (U3: clients whose masked input arrived.)
4. Unmasking: every client still there (U4) sends, for each client it holds
   shares of, the share of `b_w` if `w` is in U3 and the share of `w`'s private
   key if `w` dropped after sharing, never both. The server reconstructs every
   `b_w` of U3 and the private key of every client of U2 \\ U3, recomputes the
   masks they leave in the sum, and removes them: it learns the sum of U3's
   inputs, nothing else. A client with fewer than `t` shareholders left in U4
   makes the round fail (no sum at all, never a wrong one).

Clients can vanish after each stage (`Dropouts`). Share encryption is accounted
in the traffic (its nonce and tag), not performed: the simulated server never
reads the clients' inboxes. The PRG is ChaCha20 keyed by the 32-byte seed, its
stream read as 64-bit words reduced modulo `2**bits`.

Measurements of a round (`RoundOutcome.measurements`): `clients`, `threshold`
(the smallest `t` of any client), `dropped_after_advertising`,
`dropped_after_sharing`, `dropped_after_input`, `survivors` (clients whose input
is in the sum, U3), `unmasking_clients` (U4), `reconstructions` (secrets
reconstructed by the server), `keys_reconstructed` (of them, the private keys of
clients that dropped after sharing, before their masked input), `pairwise_masks_removed`
(the masks the server regenerated from those keys and removed: the recovery cost
of such a drop, one mask per neighbour in U3, since those neighbours masked with
it), `failed` (1 when the sum could not be unmasked),
`bytes_up` / `bytes_down` (mean over the round's clients of what each sent to /
received from the server), `server_seconds` (the server's unmasking work,
wall time).
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from typing import Callable, NamedTuple, Optional

import numpy as np
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from fedrun.aggregators import shamir

KEY_BYTES = 32
ID_BYTES = 4
AEAD_OVERHEAD_BYTES = 28  # a 12-byte nonce and a 16-byte tag per encrypted pair of shares
SHARE_BYTES = ID_BYTES + shamir.SHARE_VALUE_BYTES


@dataclasses.dataclass(frozen=True)
class ProtocolConfig:
    """Settings of the protocol.

    Attributes:
        bits: Inputs and masks are integers modulo `2**bits` (at most 62).
        threshold: Shares needed to reconstruct a secret; None: a majority of
            each client's shareholders (`len // 2 + 1`).
        neighbors: Degree of the masking graph (SecAgg+; rounded up to even);
            None: every pair of clients (SecAgg).
    """

    bits: int
    threshold: Optional[int] = None
    neighbors: Optional[int] = None


@dataclasses.dataclass(frozen=True)
class Dropouts:
    """Clients (cohort positions) that vanish after each stage."""

    after_advertising: frozenset[int] = frozenset()
    after_sharing: frozenset[int] = frozenset()
    after_input: frozenset[int] = frozenset()


class RoundOutcome(NamedTuple):
    """What the server ends a round with.

    Attributes:
        total: The sum modulo `2**bits` of the inputs of U3 (int64 `[D]`), or None
            if the round failed.
        measurements: See the module docstring.
        failure: Why the round failed (None if it did not).
    """

    total: Optional[np.ndarray]
    measurements: dict[str, float]
    failure: Optional[str]


def prg(seed: bytes, dim: int, bits: int) -> np.ndarray:
    """`dim` integers uniform modulo `2**bits` (int64) expanded from a 32-byte seed."""
    stream = (
        Cipher(algorithms.ChaCha20(seed, b"\0" * 16), mode=None)
        .encryptor()
        .update(b"\0" * (8 * dim))
    )
    return (np.frombuffer(stream, np.uint64) & np.uint64(2**bits - 1)).astype(np.int64)


def neighbourhoods(
    num_clients: int, neighbors: Optional[int], rng: np.random.Generator
) -> list[frozenset[int]]:
    """Each client's neighbours: all others, or its ring neighbours in a random Harary graph."""
    offsets = num_clients // 2 if neighbors is None else min(num_clients // 2, -(-neighbors // 2))
    if 2 * offsets >= num_clients - 1:
        return [frozenset(range(num_clients)) - {u} for u in range(num_clients)]
    ring = rng.permutation(num_clients)
    position = np.argsort(ring)
    return [
        frozenset(
            int(ring[(position[u] + s * d) % num_clients])
            for d in range(1, offsets + 1)
            for s in (1, -1)
        )
        for u in range(num_clients)
    ]


def _raw(key: X25519PrivateKey) -> bytes:
    return key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())


def _pair_seed(own: X25519PrivateKey, other_public: bytes) -> bytes:
    return hashlib.sha256(own.exchange(X25519PublicKey.from_public_bytes(other_public))).digest()


class _Client:
    """A client's secrets and inbox (the server never reads them)."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.key = X25519PrivateKey.from_private_bytes(rng.bytes(KEY_BYTES))
        self.public = self.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.self_seed = rng.bytes(KEY_BYTES)
        self.inbox: dict[
            int, tuple[shamir.Share, shamir.Share]
        ] = {}  # owner -> (share of b, share of key)

    def masked_input(
        self, u: int, x: np.ndarray, peers: list[int], publics: dict[int, bytes], bits: int
    ) -> np.ndarray:
        masked = x + prg(self.self_seed, x.shape[0], bits)
        for v in peers:
            stream = prg(_pair_seed(self.key, publics[v]), x.shape[0], bits)
            masked = masked + stream if u < v else masked - stream
        return masked & (2**bits - 1)


def modular_sum(masked: np.ndarray, bits: int) -> np.ndarray:
    """The plain transport: the sum of the rows modulo `2**bits`."""
    total = np.zeros(masked.shape[1], np.int64)
    for row in masked:  # one row at a time, so int64 never overflows
        total = (total + row) & (2**bits - 1)
    return total


def run_round(
    inputs: np.ndarray,
    config: ProtocolConfig,
    dropouts: Dropouts,
    rng: np.random.Generator,
    transport: Optional[Callable[[np.ndarray], np.ndarray]] = None,
) -> RoundOutcome:
    """Runs one round over the cohort's integer inputs (`[K, D]`, in `[0, 2**bits)`).

    Args:
        inputs: Every client's quantized input (rows of clients that drop before
            sending it are never read).
        config: Protocol settings.
        dropouts: Who vanishes after which stage.
        rng: The round's randomness (keys, seeds, polynomials, masking graph).
        transport: Sums the masked inputs modulo `2**bits` (default `modular_sum`;
            the aggregator passes `intrinsics.secure_sum`).
    """
    count, dim = inputs.shape
    bits = config.bits
    mask = 2**bits - 1
    transport = transport or (lambda masked: modular_sum(masked, bits))
    up, down = np.zeros(count), np.zeros(count)
    graph = neighbourhoods(count, config.neighbors, rng)
    holders = [sorted(graph[u] | {u}) for u in range(count)]
    thresholds = [config.threshold or len(h) // 2 + 1 for h in holders]
    clients = [_Client(rng) for _ in range(count)]

    # 1. Advertise keys.
    u1 = set(range(count))
    publics = {u: clients[u].public for u in u1}
    for u in u1:
        up[u] += KEY_BYTES
        down[u] += len(graph[u]) * (ID_BYTES + KEY_BYTES)
    short = [u for u in u1 if thresholds[u] > len(holders[u])]
    if short:  # the server aborts: too few clients to share with
        u = short[0]
        failure: Optional[str] = (
            f"client {u} has {len(holders[u])} shareholders, fewer than the threshold {thresholds[u]}"
        )
        return RoundOutcome(
            None, _measurements(count, thresholds, u1, u1, u1, u1, Recovery(), up, down), failure
        )
    # 2. Share keys (to shareholders still there).
    u2 = u1 - dropouts.after_advertising
    for u in sorted(u2):
        points = [v + 1 for v in holders[u]]  # a shareholder's point: its position + 1
        b_shares = shamir.split(
            int.from_bytes(clients[u].self_seed, "little"), thresholds[u], points, rng
        )
        key_shares = shamir.split(
            int.from_bytes(_raw(clients[u].key), "little"), thresholds[u], points, rng
        )
        for v, b_share, key_share in zip(holders[u], b_shares, key_shares):
            if v not in u2:  # vanished before receiving it
                continue
            clients[v].inbox[u] = (b_share, key_share)
            if v != u:
                up[u] += 2 * SHARE_BYTES + AEAD_OVERHEAD_BYTES
                down[v] += 2 * SHARE_BYTES + AEAD_OVERHEAD_BYTES
    # 3. Masked input, masked with the neighbours that shared keys.
    u3 = sorted(u2 - dropouts.after_sharing)
    masked = np.zeros((len(u3), dim), np.int64)
    for row, u in enumerate(u3):
        peers = sorted(v for v in graph[u] if v in u2)
        masked[row] = clients[u].masked_input(u, inputs[u] & mask, peers, publics, bits)
        up[u] += dim * ((bits + 7) // 8)
    total = transport(masked) if u3 else np.zeros(dim, np.int64)
    # 4. Unmasking: the server names U3; each remaining client answers with shares.
    started = time.perf_counter()
    u4 = set(u3) - dropouts.after_input
    dropped = sorted(u2 - set(u3))
    responses: dict[int, list[shamir.Share]] = {w: [] for w in [*u3, *dropped]}
    for v in u4:
        down[v] += ID_BYTES * len(u2)
        for w, (b_share, key_share) in clients[v].inbox.items():
            if w in responses:
                responses[w].append(b_share if w in u3 else key_share)
                up[v] += SHARE_BYTES
    failure = None
    reconstructions = keys = pairwise_removed = 0
    for w, shares in responses.items():
        if len(shares) < thresholds[w]:
            failure = (
                f"client {w} has {len(shares)} shareholders left of the {thresholds[w]} needed "
                f"to unmask (of {count} clients, {len(u4)} answered the unmasking)"
            )
            break
        secret = shamir.reconstruct(shares, thresholds[w]).to_bytes(KEY_BYTES, "little")
        reconstructions += 1
        if w in u3:  # remove its self-mask
            total = (total - prg(secret, dim, bits)) & mask
        else:  # remove the pairwise masks its neighbours in U3 added for it
            keys += 1
            key = X25519PrivateKey.from_private_bytes(secret)
            for v in graph[w]:
                if v in u3:
                    stream = prg(_pair_seed(key, publics[v]), dim, bits)
                    total = (total - stream if v < w else total + stream) & mask
                    pairwise_removed += 1
    seconds = time.perf_counter() - started
    measurements = _measurements(
        count,
        thresholds,
        u1,
        u2,
        set(u3),
        u4,
        Recovery(reconstructions, keys, pairwise_removed, seconds),
        up,
        down,
    )
    return RoundOutcome(None if failure else total, measurements, failure)


class Recovery(NamedTuple):
    """The server's unmasking work in a round.

    Attributes:
        reconstructions: Secrets reconstructed from shares (self-mask seeds of U3,
            private keys of U2 \\ U3).
        keys_reconstructed: Of them, private keys of clients that dropped after
            sharing and before their masked input (U2 \\ U3).
        pairwise_masks_removed: Pairwise masks regenerated from a reconstructed key
            and removed (one per pair of a client of U2 \\ U3 and its neighbour in U3).
        seconds: Wall time of the unmasking.
    """

    reconstructions: int = 0
    keys_reconstructed: int = 0
    pairwise_masks_removed: int = 0
    seconds: float = 0.0


def _measurements(
    count: int,
    thresholds: list[int],
    u1: set[int],
    u2: set[int],
    u3: set[int],
    u4: set[int],
    recovery: Recovery,
    up: np.ndarray,
    down: np.ndarray,
) -> dict[str, float]:
    """The round's measurements from the client sets that reached each stage."""
    return {
        "clients": count,
        "threshold": min(thresholds) if thresholds else 0,
        "dropped_after_advertising": len(u1 - u2),
        "dropped_after_sharing": len(u2 - u3),
        "dropped_after_input": len(u3 - u4),
        "survivors": len(u3),
        "unmasking_clients": len(u4),
        "reconstructions": recovery.reconstructions,
        "keys_reconstructed": recovery.keys_reconstructed,
        "pairwise_masks_removed": recovery.pairwise_masks_removed,
        "failed": int(recovery.reconstructions < len(u3) + len(u2 - u3)),
        "bytes_up": float(up.mean()) if count else 0.0,
        "bytes_down": float(down.mean()) if count else 0.0,
        "server_seconds": recovery.seconds,
    }
