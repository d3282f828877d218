"""Build a run from its spec and execute it.

One straight line: the composed config is validated once into a `RunSpec`
(`fedrun.app.schema.validate`), `build` makes the objects it describes, the loop
runs them. Order matters for users: the whole config is checked first, then data
files are read and checked, then the model and processes are built; only then
does training start. Everything a run writes goes to its output directory.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from typing import Any, Mapping, Optional, Union

from fedrun.aggregators.build import AggregatorContext, build_tree
from fedrun.app.loggers import run_callbacks
from fedrun.app.schema import RunSettings, RunSpec, validate
from fedrun.config.errors import ConfigError
from fedrun.config.registry import Choice
from fedrun.data.build import load_data
from fedrun.data.client_cache import cache_file_backed
from fedrun.data.client_data import FederatedData
from fedrun.data.progress import DataProgress
from fedrun.data.registry import DataContext
from fedrun.learning.algorithms import AlgorithmContext
from fedrun.learning.attacks import Attack, AttackedRuntime, DataPoisoning, build_attack
from fedrun.learning.personalization import PersonalizationEvaluator, personalization_clients
from fedrun.learning.process import LearningProcess
from fedrun.learning.schedules import RoundSchedule
from fedrun.models.build import make_model
from fedrun.runtime.base import Runtime
from fedrun.runtime.fault_injection import FaultInjectingRuntime
from fedrun.runtime.memory import Budget, default_budget, parse_budget, peak_rss_bytes
from fedrun.runtime.recipe import WorkerRecipe
from fedrun.runtime.trainer import LocalRule
from fedrun.runtime.variable_trainer import learning_model
from fedrun.training.atomic import write_atomic
from fedrun.training.attacks import AttackCallback, AttackEvaluator
from fedrun.training.checkpointer import Checkpointer
from fedrun.training.evaluation import Evaluate, EvaluationCallback, Evaluator
from fedrun.training.loop import run_rounds
from fedrun.training.resume import check_resume_path, prepare_resume
from fedrun.training.run_directory import (
    CHECKPOINTS_DIR,
    SUMMARY_FILE,
    lock_run_directory,
    prepare_run_directory,
)
from fedrun.training.sampling import Sampler
from fedrun.training.signals import StopRequest
from fedrun.training.stragglers import StragglerSimulator
from fedrun.training.targets import TargetAccuracyCallback


@dataclasses.dataclass(frozen=True)
class BuiltRun:
    """Everything built from a run spec, ready to train.

    Attributes:
        spec: The spec it was built from.
        data: The federated data.
        process: The learning process.
        sampler: The client sampler.
        evaluator: Federated and centralized evaluation.
        runtime: The runtime executing client work.
        stragglers: Decides each round's stragglers and dropouts (None: none).
        attack: The Byzantine clients' attack (None: all honest).
        attacked_runtime: The runtime the learning algorithm trains with under an
            attack (it applies the update attacks; None: all honest).
    """

    spec: RunSpec
    data: FederatedData
    process: LearningProcess
    sampler: Sampler
    evaluator: Evaluate
    runtime: Runtime
    stragglers: Optional[StragglerSimulator] = None
    attack: Optional[Attack] = None
    attacked_runtime: Optional[AttackedRuntime] = None

    @property
    def config(self) -> RunSettings:
        """The run's top-level settings."""
        return self.spec.settings


def client_cache_bytes(memory_budget: Budget) -> int:
    """Bytes of prepared clients of file-backed data kept in memory: a quarter of the
    runtime's memory budget (when none is configured, the default share of this
    machine's available memory)."""
    return (parse_budget(memory_budget) or default_budget()) // 4


@dataclasses.dataclass(frozen=True)
class PrepareLoadedData:
    """What `build` does to freshly loaded data, as picklable data, so that the data a
    Ray worker loads is prepared as the driver's was: file-backed clients cached
    (within a quarter of that machine's budget), then the data attack's poisoning
    applied above the cache.

    Attributes:
        memory_budget: The runtime's `memory_budget` as configured.
        poisoning: The data attack; None for none.
    """

    memory_budget: Budget
    poisoning: Optional[DataPoisoning] = None

    def __call__(self, data: FederatedData) -> FederatedData:
        data = cache_file_backed(data, client_cache_bytes(self.memory_budget))
        return data if self.poisoning is None else self.poisoning(data)


def _schedule(
    choice: Optional[Choice[RoundSchedule]], base_learning_rate: float
) -> Optional[RoundSchedule]:
    return None if choice is None else choice.build(base_learning_rate=float(base_learning_rate))


def build(spec: Union[RunSpec, Mapping[str, Any]], runtime: Optional[Runtime] = None) -> BuiltRun:
    """Builds the run a spec describes (a composed config is validated into one first).

    Args:
        spec: The run's spec, or the composed config as plain Python.
        runtime: Executes client work instead of the configured runtime (a Ray
            actor rebuilding the run passes its in-process one).
    """
    if not isinstance(spec, RunSpec):
        spec = validate(spec)
    config = spec.settings
    progress = DataProgress(config.progress)
    data = load_data(spec.dataset, DataContext(config.seed, config.preprocess, progress))
    # Read from the params, not the runtime: the runtime is built after the attack,
    # which needs the cached data below it. Every runtime's params have this field.
    memory_budget: Budget = getattr(spec.runtime.params, "memory_budget", None)
    data = cache_file_backed(data, client_cache_bytes(memory_budget))
    num_clients = len(data.train.client_ids)
    if config.clients_per_round > num_clients:
        raise ConfigError(
            "clients_per_round",
            f"the data set has only {num_clients} clients",
            config.clients_per_round,
            f"1..{num_clients}",
        )
    attack = None
    if config.attack is not None:  # draws and checks the Byzantine set; poisons their data
        attack = build_attack(
            config.attack, data, config.seed, config.clients_per_round, spec.aggregator
        )
        data = attack.data
    model = learning_model(make_model(spec.model, data, config.seed))
    if runtime is None:
        poisoning = attack.poisoning if attack is not None else None
        prepare = PrepareLoadedData(memory_budget, poisoning)
        recipe = WorkerRecipe(spec.dataset, spec.model, config.seed, config.preprocess, prepare)
        runtime = spec.runtime.build(recipe=recipe)
    client_optimizer = spec.client_optimizer.build()
    runtime.check_memory(
        model, client_optimizer, config.preprocess.batch_size, config.preprocess.eval_batch_size
    )
    if config.faults is not None:  # a test hook: clients failing at random
        runtime = FaultInjectingRuntime(runtime, config.faults, config.seed)
    attacked_runtime = attack.wrap_runtime(runtime) if attack is not None else None
    server_optimizer = spec.server_optimizer.build()
    aggregator = build_tree(
        spec.aggregator,
        AggregatorContext(
            config.clients_per_round,
            num_clients,
            config.rounds,
            config.seed,
            sampling=spec.sampling.name,
        ),
    )
    context = AlgorithmContext(
        model=model,
        client_optimizer=client_optimizer,
        server_optimizer=server_optimizer,
        aggregator=aggregator,
        aggregator_spec=spec.aggregator,
        runtime=attacked_runtime or runtime,
        num_clients=num_clients,
        client_lr_schedule=_schedule(spec.client_lr_schedule, client_optimizer.learning_rate),
        server_lr_schedule=_schedule(spec.server_lr_schedule, server_optimizer.learning_rate),
        preprocess=config.preprocess,
    )
    process = spec.algorithm.build(context=context)
    stragglers = None
    if config.stragglers is not None:
        stragglers = StragglerSimulator(
            config.stragglers,
            config.preprocess.epochs,
            process.accepts_partial_work,
            config.clients_per_round,
        )
    eval_trainer = runtime.make_trainer(model, None, LocalRule())
    eval_ids = []
    if data.test is not None:
        # Slice before listing: client id sequences may be lazy (millions of clients).
        eval_ids = list(
            data.test.client_ids[: config.eval_clients]
            if config.eval_clients
            else data.test.client_ids
        )
    personalization = None
    if config.personalization is not None:
        if data.test is None:
            raise ConfigError(
                "personalization", "the data set has no per-client test split to evaluate on"
            )
        count = config.personalization.clients or config.eval_clients
        personalization = PersonalizationEvaluator(
            model,
            client_optimizer,
            runtime,
            data.train,
            data.test,
            personalization_clients(data.train, data.test, count),
            config.personalization,
            config.preprocess,
            config.seed,
        )

    train_eval_ids: list[str] = []
    if config.eval_train:
        train_ids = data.train.client_ids
        train_eval_ids = list(
            train_ids[: config.eval_clients] if config.eval_clients else train_ids
        )
    evaluator: Evaluate = Evaluator(
        eval_trainer,
        data,
        eval_ids,
        config.preprocess.eval_batch_size,
        runtime,
        personalization,
        train_client_ids=train_eval_ids,
    )
    if attack is not None:
        backdoor = attack.backdoor_evaluation(eval_trainer, config.preprocess.eval_batch_size)
        if backdoor is not None:
            evaluator = AttackEvaluator(evaluator, backdoor)
    sampler = spec.sampling.build(progress=progress)
    return BuiltRun(
        spec, data, process, sampler, evaluator, runtime, stragglers, attack, attacked_runtime
    )


def run(plain: Mapping[str, Any], output_dir: str) -> dict[str, Any]:
    """Validates, builds and trains; writes `tb/`, `metrics.jsonl`, `checkpoints/` and `summary.json`.

    The run directory is locked for the whole run (`RunDirectoryLockedError` if
    another process holds it); see `_run` for the rest.
    """
    with lock_run_directory(output_dir):
        return _run(plain, output_dir)


def _run(plain: Mapping[str, Any], output_dir: str) -> dict[str, Any]:
    """Builds and trains; writes `tb/`, `metrics.jsonl`, `checkpoints/` and `summary.json`.

    If the run directory holds checkpoints (or `resume` names some), training
    continues after the newest valid one and the logs are rewound to it.

    Args:
        plain: The composed config as plain Python (resolved).
        output_dir: The run directory (Hydra's); created if missing.

    Returns:
        The summary that was written to `summary.json`.

    Raises:
        RunInterrupted: after SIGINT/SIGTERM, once the round in progress is done
            and checkpointed.
    """
    prepare_run_directory(output_dir)
    spec = validate(plain)
    config = spec.settings
    if config.resume is not None:  # a missing path fails before anything is built
        check_resume_path(config.resume)
    built = build(spec)
    start = prepare_resume(
        built.process, output_dir, config.resume, config.checkpoint.enabled, spec.config_record()
    )
    callbacks = run_callbacks(config, spec.config_record(), output_dir)
    callbacks.insert(0, EvaluationCallback(built.evaluator, config.eval_every, config.rounds))
    if built.attacked_runtime is not None:  # first: it adds the attack's measurements
        callbacks.insert(0, AttackCallback(built.attacked_runtime))
    target = None
    if config.target_accuracy is not None:
        target = TargetAccuracyCallback(config.target_accuracy, stop=config.stop_at_target)
        for record in start.records:  # a resumed run may have reached it already
            target.on_round_end(record)
        callbacks.append(target)
    if config.print_signature:
        print(built.process.initialize.type_signature.formatted_representation(), flush=True)
    checkpointer = None
    if config.checkpoint.enabled:
        checkpoints = os.path.join(output_dir, CHECKPOINTS_DIR)
        checkpointer = Checkpointer(
            checkpoints,
            config.checkpoint,
            built.process.client_states,
            spec.config_record(),
            start.round_num,
        )
    started = time.perf_counter()
    try:
        with StopRequest() as stop:
            state, records = run_rounds(
                built.process,
                built.data,
                built.sampler,
                spec.loop,
                start.state,
                callbacks,
                start.round_num + 1,
                stragglers=built.stragglers,
                checkpointer=checkpointer,
                stop=stop,
            )
    finally:
        built.runtime.close()
    summary = make_summary(start.records + records, time.perf_counter() - started, output_dir)
    summary["peak_rss_bytes"] = peak_rss_bytes()
    if checkpointer is not None:
        summary["checkpoints"] = checkpointer.summary()
    if target is not None:
        summary.update(target.summary())
    for callback in callbacks:
        callback.on_train_end(summary)
    write_atomic(os.path.join(output_dir, SUMMARY_FILE), json.dumps(summary, indent=2).encode())
    return summary


def make_summary(records: list[dict[str, Any]], seconds: float, output_dir: str) -> dict[str, Any]:
    """The end-of-run summary: final metrics, best evaluation, time."""
    last = records[-1] if records else {}
    last_eval: Optional[dict[str, Any]] = next(
        (r["eval"] for r in reversed(records) if "eval" in r), None
    )
    round_seconds = sorted(r["round_seconds"] for r in records[1:]) or [
        r["round_seconds"] for r in records
    ]
    examples = sum(r.get("train", {}).get("num_examples", 0) for r in records)
    return {
        "rounds": last.get("round", 0),
        "final_train": last.get("train", {}),
        "final_eval": last_eval or {},
        "seconds": seconds,
        "median_round_seconds": round_seconds[len(round_seconds) // 2] if round_seconds else None,
        "train_examples_per_second": examples / seconds if seconds > 0 else None,
        "tensorboard_logdir": os.path.join(output_dir, "tb"),
    }
