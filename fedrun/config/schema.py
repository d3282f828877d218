"""The top-level config schema and whole-config validation.

`validate(plain)` checks every key of the composed config before anything is
built: top-level values against `RunConfig`, and every group node against its
registry (names and parameters). Errors name the config path.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Optional

from fedrun.config.errors import ConfigError
from fedrun.config.params import bounded, parse
from fedrun.config.registry import TARGET_KEY, Registry
from fedrun.data.preprocess import PreprocessConfig
from fedrun.learning.personalization import PersonalizationConfig
from fedrun.runtime.fault_injection import FaultConfig
from fedrun.training.checkpoint import CheckpointConfig
from fedrun.training.stragglers import StragglerConfig

GROUPS = (
    "dataset",
    "model",
    "client_optimizer",
    "server_optimizer",
    "aggregator",
    "algorithm",
    "runtime",
    "sampling",
)


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Top-level keys of `conf/config.yaml` (group nodes are checked by registries).

    Attributes:
        rounds: Number of federated rounds.
        clients_per_round: Clients sampled per round.
        seed: Seed of every random choice in the run.
        eval_every: Evaluate every N rounds and after the last; 0 never.
        eval_clients: How many clients' test data the federated evaluation uses
            (the first N; null for all).
        preprocess: Client preprocessing.
        allowed_targets: Module prefixes a `_target_` may name.
        progress: Print a line per round.
        stragglers: Stragglers and dropouts among sampled clients (null: none).
        personalization: Personalization evaluation (null: off).
        client_lr_schedule: Client learning rate over rounds (null: constant).
        server_lr_schedule: Server learning rate over rounds (null: constant).
        print_signature: Print the type signature of the learning process's state
            (model, aggregator state ...) before training.
        eval_train: Also evaluate the global model on the training data of the
            first `eval_clients` clients (all if null): `eval.train` in the
            records, the training loss FedProx reports.
        target_accuracy: Record the first round whose evaluation accuracy
            (centralized if evaluated, else federated) reaches this value, as
            `rounds_to_target` in `summary.json` (null: off).
        stop_at_target: End the run at the round that reaches `target_accuracy`.
        faults: Clients failing at random, a test hook (null: none; see
            `fedrun.runtime.fault_injection`).
        objective: Dotted path into `summary.json` (`final_eval.federated.accuracy`)
            whose value the run returns to a Hydra sweeper (Optuna); null: none.
        min_clients: Fewest clients that must survive a round (clients whose
            data or training raises, or whose update is not finite, are dropped).
        checkpoint: When to save checkpoints and how many to keep.
        resume: Checkpoint to continue from (a run directory, its `checkpoints/`
            or one manifest); null continues from this run directory's own
            checkpoints, if it has any.
    """

    rounds: int = bounded(10, ge=1)
    clients_per_round: int = bounded(10, ge=1)
    seed: int = bounded(0, ge=0)
    eval_every: int = bounded(1, ge=0)
    eval_clients: Optional[int] = bounded(None, ge=1)
    preprocess: PreprocessConfig = dataclasses.field(default_factory=PreprocessConfig)
    allowed_targets: list[str] = dataclasses.field(default_factory=list)
    progress: bool = True
    print_signature: bool = False
    objective: Optional[str] = None
    min_clients: int = bounded(1, ge=1)
    checkpoint: CheckpointConfig = dataclasses.field(default_factory=CheckpointConfig)
    resume: Optional[str] = None
    dataset: Any = None
    model: Any = None
    client_optimizer: Any = None
    server_optimizer: Any = None
    aggregator: Any = None
    algorithm: Any = None
    runtime: Any = None
    sampling: Any = None
    stragglers: Optional[StragglerConfig] = None
    personalization: Optional[PersonalizationConfig] = None
    client_lr_schedule: Any = None
    server_lr_schedule: Any = None
    eval_train: bool = False
    target_accuracy: Optional[float] = bounded(None, gt=0, le=1)
    stop_at_target: bool = False
    faults: Optional[FaultConfig] = None


def group_registries() -> dict[str, Registry[Any]]:
    """The registry holding each config group's options (importing it registers them all)."""
    import fedrun.aggregators.library  # noqa: F401
    import fedrun.data.sources  # noqa: F401
    from fedrun.aggregators.build import AGGREGATORS
    from fedrun.data.registry import DATASETS
    from fedrun.learning.algorithms import ALGORITHMS
    from fedrun.models.builders import MODELS
    from fedrun.optimizers import OPTIMIZERS
    from fedrun.runtime import RUNTIMES
    from fedrun.training.sampling import SAMPLERS

    return {
        "dataset": DATASETS,
        "model": MODELS,
        "client_optimizer": OPTIMIZERS,
        "server_optimizer": OPTIMIZERS,
        "aggregator": AGGREGATORS,
        "algorithm": ALGORITHMS,
        "runtime": RUNTIMES,
        "sampling": SAMPLERS,
    }


def validate(plain: Mapping[str, Any]) -> RunConfig:
    """Checks the whole composed config; builds nothing that touches data or TF state.

    Raises:
        ConfigError: at the first bad value, naming its path.
    """
    config = parse(RunConfig, plain, "")
    if config.min_clients > config.clients_per_round:
        raise ConfigError(
            "min_clients",
            "cannot exceed clients_per_round",
            config.min_clients,
            f"1..{config.clients_per_round}",
        )
    if config.target_accuracy is not None and config.eval_every == 0:
        raise ConfigError(
            "target_accuracy", "needs evaluation: set eval_every >= 1", config.target_accuracy
        )
    missing = [g for g in GROUPS if getattr(config, g) is None]
    if missing:
        raise ConfigError(missing[0], "missing config group")
    from fedrun.aggregators.build import AggregatorContext, build_factory
    from fedrun.learning.schedules import SCHEDULES

    for group, registry in group_registries().items():
        node = getattr(config, group)
        if (
            group == "aggregator"
        ):  # a tree of factories (children, `_target_`): checked by building it
            # The population is known only once the data is read; the cohort bounds it below.
            cohort = AggregatorContext(
                config.clients_per_round, config.clients_per_round, config.rounds, config.seed
            )
            build_factory(node, group, config.allowed_targets, cohort)
        elif not (
            group == "model" and isinstance(node, Mapping) and TARGET_KEY in node
        ):  # a user's model: checked when built
            registry.parse(node, group)
    for key in ("client_lr_schedule", "server_lr_schedule"):
        if getattr(config, key) is not None:
            SCHEDULES.parse(getattr(config, key), key)
    return config
