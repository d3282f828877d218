"""Update attacks: what Byzantine clients send instead of their honest update.

Each attack maps the stacked updates of a cohort (numpy leaves with the client
axis first, the honest `initial - final` weights of every client) and a bool
`[K]` mask of the Byzantine rows to the updates the clients send; honest rows
are returned unchanged. Arithmetic is in float64, cast back to each leaf's dtype.

* `sign_flip`: `-k * update` of the client's own update.
* `scaling`: `k * update` (model replacement, Bagdasaryan et al. 2020: with the
  mean of `n` clients and server learning rate 1, `k = n` replaces the global
  model by the attacker's).
* `gaussian`: noise `N(0, std^2 I)` in place of the update (the Gaussian
  Byzantine workers of Blanchard et al. 2017), drawn from (seed, round, client id).
* `alie` ("A Little Is Enough", Baruch et al. 2019): every Byzantine client sends
  `mean - z * std`, the coordinate-wise mean and standard deviation of the honest
  updates; by default `z = z_max = Phi^-1((n - s) / n)` with
  `s = floor(n / 2 + 1) - m` for `n` clients of which `m` are Byzantine.
* `ipm` (inner-product manipulation, Xie et al. 2020): every Byzantine client
  sends `-epsilon * mean` of the honest updates.

The colluding attacks (`alie`, `ipm`) see the honest updates of the round, a
privilege of the simulation (an omniscient attacker); with no honest client in
the cohort they use the Byzantine clients' own honest updates.
"""

from __future__ import annotations

import math
import statistics
import zlib
from typing import Sequence

import numpy as np

from fedrun.learning.attacks.config import AttackConfig

Leaves = list[np.ndarray]
_NOISE_STREAM = 0x6A55


def alie_z_max(num_clients: int, num_byzantine: int) -> float:
    """Baruch et al. 2019's `z_max` for `n` clients of which `m` are Byzantine
    (at least 1 supporter is needed, so `s` is at least 1)."""
    supporters = max(math.floor(num_clients / 2 + 1) - num_byzantine, 1)
    return statistics.NormalDist().inv_cdf((num_clients - supporters) / num_clients)


def _honest_rows(byzantine: np.ndarray) -> np.ndarray:
    return ~byzantine if (~byzantine).any() else np.ones_like(byzantine)


def _replace_rows(leaves: Leaves, byzantine: np.ndarray, rows: Sequence[np.ndarray]) -> Leaves:
    out = []
    for leaf, row in zip(leaves, rows):
        new = leaf.copy()
        new[byzantine] = np.broadcast_to(row, new[byzantine].shape).astype(leaf.dtype)
        out.append(new)
    return out


def noise_rng(seed: int, round_num: int, client_id: str) -> np.random.Generator:
    """The Gaussian attacker's stream: the same in every runtime and process."""
    return np.random.default_rng([seed, round_num, zlib.crc32(client_id.encode()), _NOISE_STREAM])


def attack_updates(
    config: AttackConfig,
    leaves: Leaves,
    byzantine: np.ndarray,
    client_ids: Sequence[str],
    round_num: int,
    seed: int,
) -> Leaves:
    """The updates the cohort sends under `config`'s update attack.

    Args:
        config: The attack.
        leaves: The honest stacked updates, `[K, ...]` each.
        byzantine: bool `[K]`, True for Byzantine clients.
        client_ids: The cohort, in row order (noise streams).
        round_num: The round (noise streams).
        seed: The run's seed (noise streams).
    """
    if not byzantine.any():
        return leaves
    count = len(byzantine)
    if config.kind in ("sign_flip", "scaling"):
        default = 1.0 if config.kind == "sign_flip" else float(count)
        factor = (config.scale if config.scale is not None else default) * (
            -1.0 if config.kind == "sign_flip" else 1.0
        )
        return _replace_rows(
            leaves, byzantine, [leaf[byzantine].astype(np.float64) * factor for leaf in leaves]
        )
    if config.kind == "gaussian":
        out = [leaf.copy() for leaf in leaves]
        for k in np.flatnonzero(byzantine):
            rng = noise_rng(seed, round_num, client_ids[int(k)])
            for leaf in out:
                leaf[k] = rng.normal(0.0, config.std, size=leaf.shape[1:]).astype(leaf.dtype)
        return out
    honest = _honest_rows(byzantine)
    means = [leaf[honest].astype(np.float64).mean(axis=0) for leaf in leaves]
    if config.kind == "alie":
        z = config.z if config.z is not None else alie_z_max(count, int(byzantine.sum()))
        stds = [leaf[honest].astype(np.float64).std(axis=0) for leaf in leaves]
        return _replace_rows(leaves, byzantine, [m - z * s for m, s in zip(means, stds)])
    if config.kind == "ipm":
        return _replace_rows(leaves, byzantine, [-config.epsilon * m for m in means])
    raise ValueError(f"{config.kind!r} is not an update attack")
