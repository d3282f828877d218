"""Who is Byzantine, and whether the configured aggregator can tolerate them.

The Byzantine set is chosen once, before training, from the run's seed and the
population's client ids alone, so the driver and every Ray worker (which rebuild
the run from the same config) agree on it, whatever the runtime.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np

from fedrun.aggregators.build import AggregatorSpec
from fedrun.config.errors import ConfigError, join_path
from fedrun.learning.attacks.config import AttackConfig

_BYZANTINE_STREAM = 0xB42  # keeps this draw apart from the run's other seeded draws


def byzantine_clients(
    config: AttackConfig, client_ids: Sequence[str], seed: int, path: str = "attack"
) -> frozenset[str]:
    """The Byzantine clients: `config.clients`, or `round(fraction * N)` of the `N`
    clients drawn without replacement from `seed`.

    Raises:
        ConfigError: at `path.clients` for an id the data set does not have.
    """
    if config.clients is not None:
        known = set(client_ids)
        for i, client_id in enumerate(config.clients):
            if client_id not in known:
                raise ConfigError(
                    join_path(join_path(path, "clients"), i),
                    "no such client in the training data",
                    client_id,
                )
        return frozenset(config.clients)
    count = int(round(config.fraction * len(client_ids)))
    chosen = np.random.default_rng([seed, _BYZANTINE_STREAM]).choice(
        len(client_ids), size=count, replace=False
    )
    return frozenset(client_ids[int(i)] for i in chosen)


def _robust_nodes(spec: AggregatorSpec) -> Iterator[AggregatorSpec]:
    """Every node of the aggregator tree whose rule tolerates a bounded number of
    Byzantine clients."""
    if spec.choice is not None and spec.name in ("krum", "trimmed_mean", "median"):
        yield spec
    for _, child in spec.children:
        yield from _robust_nodes(child)


def check_tolerance(
    config: AttackConfig,
    byzantine_count: int,
    num_clients: int,
    clients_per_round: int,
    aggregator: AggregatorSpec,
    path: str = "attack",
) -> None:
    """Refuses an attack with more Byzantine clients per round than a robust
    aggregator of the tree is configured to tolerate.

    The expected count per round, `clients_per_round * byzantine_count / num_clients`,
    is compared with Krum's `byzantine` (f), trimmed mean's `floor(trim_fraction *
    clients_per_round)` values trimmed at each end, and the median's half of the
    cohort. A sampled round can hold more than the expected count.

    Raises:
        ConfigError: at `path.fraction` (or `path.clients`), naming the aggregator.
    """
    expected = clients_per_round * byzantine_count / max(num_clients, 1)
    where = join_path(path, "clients" if config.clients is not None else "fraction")
    value = config.clients if config.clients is not None else config.fraction
    for node in _robust_nodes(aggregator):
        assert node.choice is not None  # only registered rules are yielded
        node_path, params = node.path, node.choice.params
        if node.name == "krum":
            tolerated, what = (
                float(params.byzantine),
                f"Krum at {node_path} tolerates byzantine={params.byzantine}",
            )
        elif node.name == "trimmed_mean":
            trim = int(params.trim_fraction * clients_per_round)
            tolerated = float(trim)
            what = f"trimmed mean at {node_path} trims {trim} values at each end (trim_fraction={params.trim_fraction})"
        else:
            tolerated, what = (
                (clients_per_round - 1) / 2,
                f"the median at {node_path} tolerates fewer than half",
            )
        if expected > tolerated:
            raise ConfigError(
                where,
                f"{expected:g} Byzantine clients are expected in a round of {clients_per_round} "
                f"({byzantine_count} of {num_clients} clients), but {what}",
                value,
            )
