"""Byzantine clients: attacks to test robust aggregation against.

`build_attack` turns the typed `attack:` block into an `Attack` once the data is
read (before training): it draws the Byzantine set, refuses attacks the
aggregator tree cannot tolerate, and poisons the Byzantine clients' training data
(data attacks). The run then trains through `Attack.wrap_runtime` (update
attacks) and evaluates the backdoor with `Attack.backdoor_evaluation`.
See `config` (the block), `data`, `updates`, `runtime` and `measure`.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np

from fedrun.aggregators.build import AggregatorSpec
from fedrun.config.errors import ConfigError, join_path
from fedrun.data.client_data import Arrays, FederatedData
from fedrun.learning.attacks.byzantine import byzantine_clients, check_tolerance
from fedrun.learning.attacks.config import AttackConfig
from fedrun.learning.attacks.data import PoisonedClientData, check_data_attack, triggered_test_set
from fedrun.learning.attacks.measure import BackdoorEvaluation, round_measurements
from fedrun.learning.attacks.runtime import AttackedRuntime, attacked_runtime
from fedrun.runtime.base import Runtime
from fedrun.runtime.protocol import Trainer


@dataclasses.dataclass(frozen=True)
class DataPoisoning:
    """A data attack as picklable data: applied to freshly loaded data, it poisons
    the Byzantine clients' training examples (a Ray worker applies it to the data it
    loads, so its clients train on what the driver's would).

    Attributes:
        config: The data attack.
        byzantine: Ids of the Byzantine clients.
        seed: The run's seed.
    """

    config: AttackConfig
    byzantine: frozenset[str]
    seed: int

    def __call__(self, data: FederatedData) -> FederatedData:
        train = PoisonedClientData(
            data.train, self.config, self.byzantine, data.num_classes, self.seed
        )
        return dataclasses.replace(data, train=train)


@dataclasses.dataclass(frozen=True)
class Attack:
    """A configured attack on a run.

    Attributes:
        config: The `attack:` block.
        byzantine: Ids of the Byzantine clients.
        data: The run's data, with the Byzantine clients' training data poisoned.
        poisoning: What poisons freshly loaded data the same way (data attacks;
            None for update attacks).
    """

    config: AttackConfig
    byzantine: frozenset[str]
    data: FederatedData
    poisoning: Optional[DataPoisoning] = None

    def wrap_runtime(self, runtime: Runtime) -> AttackedRuntime:
        """The runtime the learning algorithm trains with (see `runtime`)."""
        return attacked_runtime(runtime, self.config, self.byzantine)

    def backdoor_evaluation(
        self, trainer: Trainer, batch_size: int, path: str = "attack"
    ) -> Optional[BackdoorEvaluation]:
        """The backdoor's success-rate evaluation (None for other attacks), on the
        centralized test set, or else on every client's test split."""
        if self.config.kind != "backdoor":
            return None
        return BackdoorEvaluation(
            trainer, triggered_test_set(self.config, _test_arrays(self.data, path)), batch_size
        )


def _test_arrays(data: FederatedData, path: str) -> Arrays:
    if data.central_test is not None:
        return data.central_test
    if data.test is None:
        raise ConfigError(
            join_path(path, "kind"),
            "a backdoor's success rate needs test data; the data set has none",
            "backdoor",
        )
    parts = [data.test.arrays_for(cid) for cid in data.test.client_ids]
    return {key: np.concatenate([p[key] for p in parts]) for key in ("x", "y")}


def build_attack(
    config: AttackConfig,
    data: FederatedData,
    seed: int,
    clients_per_round: int,
    aggregator: AggregatorSpec,
    path: str = "attack",
) -> Attack:
    """Checks the attack against the data and the aggregator tree, then draws and poisons.

    Raises:
        ConfigError: at the `attack` key that is wrong.
    """
    client_ids = data.train.client_ids
    byzantine = byzantine_clients(config, client_ids, seed, path)
    check_tolerance(config, len(byzantine), len(client_ids), clients_per_round, aggregator, path)
    poisoning = None
    if config.on_data:
        check_data_attack(config, data.train, data.num_classes, path)
        poisoning = DataPoisoning(config, byzantine, seed)
        data = poisoning(data)
    if config.kind == "backdoor":
        _test_arrays(data, path)  # fails now, not at the first evaluation
    return Attack(config, byzantine, data, poisoning)


__all__ = [
    "Attack",
    "AttackConfig",
    "AttackedRuntime",
    "BackdoorEvaluation",
    "DataPoisoning",
    "build_attack",
    "round_measurements",
]
