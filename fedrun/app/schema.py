"""The composed config's schema, and `validate`: config -> one typed, frozen `RunSpec`.

`validate(plain)` checks every key of the composed config before anything is
built: the top-level settings against `RunConfig`, and every group node against
its registry (names and parameters; the aggregator node as a whole tree). Errors
name the config path. What it returns is all the rest of fedrun reads: parsed
parameters, never config nodes.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Mapping, Optional

import fedrun.aggregators.library  # noqa: F401  (registers the built-in aggregators)
import fedrun.data.sources  # noqa: F401  (registers the data sets)
from fedrun.aggregators.build import AGGREGATORS, AggregatorSpec, parse_aggregator
from fedrun.config.errors import ConfigError
from fedrun.config.params import bounded, parse
from fedrun.config.registry import Choice, Registry
from fedrun.data.build import parse_dataset
from fedrun.data.client_data import FederatedData
from fedrun.data.preprocess import PreprocessConfig
from fedrun.data.registry import DATASETS
from fedrun.learning.algorithms import ALGORITHMS
from fedrun.learning.attacks.config import AttackConfig
from fedrun.learning.personalization import PersonalizationConfig
from fedrun.learning.process import LearningProcess
from fedrun.learning.schedules import SCHEDULES, RoundSchedule
from fedrun.models.build import ModelSpec, parse_model
from fedrun.models.builders import MODELS
from fedrun.optimizers import OPTIMIZERS, Optimizer
from fedrun.runtime import RUNTIMES
from fedrun.runtime.base import Runtime
from fedrun.runtime.fault_injection import FaultConfig
from fedrun.training.checkpoint import CheckpointConfig
from fedrun.training.logger_config import LoggerConfig
from fedrun.training.loop import LoopConfig
from fedrun.training.progress import ProgressMode
from fedrun.training.sampling import SAMPLERS, Sampler
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
class RunSettings:
    """The top-level settings of `conf/config.yaml` (every key but the group nodes).

    Attributes:
        rounds: Number of federated rounds.
        clients_per_round: Clients sampled per round.
        seed: Seed of every random choice in the run.
        eval_every: Evaluate every N rounds and after the last; 0 never.
        eval_clients: How many clients' test data the federated evaluation uses
            (the first N; null for all).
        preprocess: Client preprocessing.
        allowed_targets: Module prefixes a `_target_` may name.
        progress: Round progress: true (a bar on a terminal, else lines), `lines`, `bar` or false.
        logger: The loggers besides `metrics.jsonl` (`logger=[tensorboard,mlflow]`).
        stragglers: Stragglers and dropouts among sampled clients (null: none).
        personalization: Personalization evaluation (null: off).
        print_signature: Print the type signature of the learning process's state
            (model, aggregator state ...) before training.
        eval_train: Also evaluate the global model on the training data of the
            first `eval_clients` clients (all if null): `eval.train` in the
            records, the training loss FedProx reports.
        target_accuracy: Record the first round whose evaluation accuracy
            (centralized if evaluated, else federated) reaches this value, as
            `rounds_to_target` in `summary.json` (null: off).
        stop_at_target: End the run at the round that reaches `target_accuracy`.
        attack: Byzantine clients and what they do (null: all honest).
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
    allowed_targets: tuple[str, ...] = ()
    progress: ProgressMode = True
    logger: LoggerConfig = dataclasses.field(default_factory=LoggerConfig)
    print_signature: bool = False
    objective: Optional[str] = None
    min_clients: int = bounded(1, ge=1)
    checkpoint: CheckpointConfig = dataclasses.field(default_factory=CheckpointConfig)
    resume: Optional[str] = None
    stragglers: Optional[StragglerConfig] = None
    personalization: Optional[PersonalizationConfig] = None
    eval_train: bool = False
    target_accuracy: Optional[float] = bounded(None, gt=0, le=1)
    stop_at_target: bool = False
    attack: Optional[AttackConfig] = None
    faults: Optional[FaultConfig] = None


@dataclasses.dataclass(frozen=True)
class RunConfig(RunSettings):
    """Top-level keys of `conf/config.yaml`: the settings and the group nodes.

    Group nodes stay untyped here (their keys depend on the `type` they name);
    `validate` checks each against its registry.

    Attributes:
        client_lr_schedule: Client learning rate over rounds (null: constant).
        server_lr_schedule: Server learning rate over rounds (null: constant).
    """

    dataset: Any = None
    model: Any = None
    client_optimizer: Any = None
    server_optimizer: Any = None
    aggregator: Any = None
    algorithm: Any = None
    runtime: Any = None
    sampling: Any = None
    client_lr_schedule: Any = None
    server_lr_schedule: Any = None


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """One run, parsed: what `fedrun.run.build` builds from, and nothing else.

    Attributes:
        settings: The top-level settings.
        dataset: The data set and its parameters.
        model: The model (a registered option or an allowed `_target_`).
        client_optimizer: The client optimizer.
        server_optimizer: The server optimizer.
        aggregator: The aggregator tree, parsed node by node (`build` constructs
            its factories once, when the population size is known).
        algorithm: The learning algorithm and its parameters.
        runtime: Where client work executes.
        sampling: The client sampler.
        client_lr_schedule: Round -> client learning rate (None: constant).
        server_lr_schedule: Round -> server learning rate (None: constant).
        loop: The training loop's settings.
        resolved_config: The composed config as JSON, recorded in checkpoint
            manifests and compared on resume (data, never parsed again).
    """

    settings: RunSettings
    dataset: Choice[FederatedData]
    model: ModelSpec
    client_optimizer: Choice[Optimizer]
    server_optimizer: Choice[Optimizer]
    aggregator: AggregatorSpec
    algorithm: Choice[LearningProcess]
    runtime: Choice[Runtime]
    sampling: Choice[Sampler]
    client_lr_schedule: Optional[Choice[RoundSchedule]]
    server_lr_schedule: Optional[Choice[RoundSchedule]]
    loop: LoopConfig
    resolved_config: str = "{}"

    def config_record(self) -> dict[str, Any]:
        """The composed config as a fresh dict (what checkpoint manifests store)."""
        loaded: dict[str, Any] = json.loads(self.resolved_config)
        return loaded


def group_registries() -> dict[str, Registry[Any]]:
    """The registry holding each config group's options."""
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


def _schedule(node: Any, path: str) -> Optional[Choice[RoundSchedule]]:
    return None if node is None else SCHEDULES.choose(node, path)


def validate(plain: Mapping[str, Any]) -> RunSpec:
    """Checks the whole composed config and parses it; builds nothing that touches data or TF.

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
    settings = RunSettings(
        **{f.name: getattr(config, f.name) for f in dataclasses.fields(RunSettings)}
    )
    allowed = settings.allowed_targets
    # Parsed in the order of GROUPS, so the first bad group is the one reported.
    dataset = parse_dataset(config.dataset, "dataset")
    model = parse_model(config.model, "model", allowed)
    client_optimizer = OPTIMIZERS.choose(config.client_optimizer, "client_optimizer")
    server_optimizer = OPTIMIZERS.choose(config.server_optimizer, "server_optimizer")
    aggregator = parse_aggregator(config.aggregator, "aggregator", allowed)
    algorithm = ALGORITHMS.choose(config.algorithm, "algorithm")
    runtime = RUNTIMES.choose(config.runtime, "runtime")
    sampling = SAMPLERS.choose(config.sampling, "sampling")
    return RunSpec(
        settings=settings,
        dataset=dataset,
        model=model,
        client_optimizer=client_optimizer,
        server_optimizer=server_optimizer,
        aggregator=aggregator,
        algorithm=algorithm,
        runtime=runtime,
        sampling=sampling,
        client_lr_schedule=_schedule(config.client_lr_schedule, "client_lr_schedule"),
        server_lr_schedule=_schedule(config.server_lr_schedule, "server_lr_schedule"),
        loop=LoopConfig(
            settings.rounds,
            settings.clients_per_round,
            settings.seed,
            settings.preprocess,
            settings.min_clients,
        ),
        resolved_config=json.dumps(plain),
    )
