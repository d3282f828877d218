"""Build a run from the composed config and execute it.

Order matters for users: the whole config is validated first, then data files are
read and checked, then the model and processes are built; only then does training
start. Everything a run writes goes to its output directory.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from typing import Any, Mapping, Optional

from fedrun.config.errors import ConfigError
from fedrun.config.schema import RunConfig, validate


@dataclasses.dataclass(frozen=True)
class BuiltRun:
    """Everything built from a config, ready to train.

    Attributes:
        config: The validated top-level config.
        data: The federated data.
        process: The learning process.
        sampler: The client sampler.
        evaluator: Federated and centralized evaluation (None if nothing to evaluate).
        runtime: The runtime executing client work.
        stragglers: Decides each round's stragglers and dropouts (None: none).
    """

    config: RunConfig
    data: Any
    process: Any
    sampler: Any
    evaluator: Any
    runtime: Any
    stragglers: Any = None


def build(plain: Mapping[str, Any], runtime: Any = None) -> BuiltRun:
    """Validates `plain` (a resolved config as plain Python) and builds the run.

    Args:
        plain: The composed config.
        runtime: Executes client work instead of the configured runtime (a Ray
            actor rebuilding the run passes its in-process one).
    """
    config = validate(plain)
    from fedrun.aggregators.build import AggregatorContext
    from fedrun.data.build import build_data
    from fedrun.data.registry import DataContext
    from fedrun.learning.algorithms import ALGORITHMS, AlgorithmContext
    from fedrun.learning.evaluation import build_fed_eval
    from fedrun.learning.personalization import PersonalizationEvaluator, personalization_clients
    from fedrun.learning.schedules import build_schedule
    from fedrun.models.build import build_model
    from fedrun.optimizers import OPTIMIZERS
    from fedrun.runtime import RUNTIMES
    from fedrun.runtime.trainer import LocalRule
    from fedrun.runtime.variable_trainer import learning_model
    from fedrun.training.loop import Evaluator
    from fedrun.training.sampling import SAMPLERS
    from fedrun.training.stragglers import StragglerSimulator

    data = build_data(config.dataset, "dataset", DataContext(config.seed, config.preprocess))
    num_clients = len(data.train.client_ids)
    if config.clients_per_round > num_clients:
        raise ConfigError(
            "clients_per_round",
            f"the data set has only {num_clients} clients",
            config.clients_per_round,
            f"1..{num_clients}",
        )
    model = learning_model(
        build_model(config.model, "model", data, config.seed, config.allowed_targets)
    )
    if runtime is None:
        runtime = RUNTIMES.build(config.runtime, "runtime")
        runtime.bind_run_config(plain)
    if config.faults is not None:  # a test hook: clients failing at random
        from fedrun.runtime.fault_injection import FaultInjectingRuntime

        runtime = FaultInjectingRuntime(runtime, config.faults, config.seed)
    client_optimizer = OPTIMIZERS.build(config.client_optimizer, "client_optimizer")
    server_optimizer = OPTIMIZERS.build(config.server_optimizer, "server_optimizer")
    context = AlgorithmContext(
        model=model,
        client_optimizer=client_optimizer,
        server_optimizer=server_optimizer,
        aggregator_node=config.aggregator,
        allowed_targets=tuple(config.allowed_targets),
        aggregator_context=AggregatorContext(
            config.clients_per_round,
            num_clients,
            config.rounds,
            config.seed,
            sampling=config.sampling["type"],
        ),
        runtime=runtime,
        client_lr_schedule=build_schedule(
            config.client_lr_schedule, "client_lr_schedule", client_optimizer.learning_rate
        ),
        server_lr_schedule=build_schedule(
            config.server_lr_schedule, "server_lr_schedule", server_optimizer.learning_rate
        ),
        preprocess=config.preprocess,
    )
    process = ALGORITHMS.build(config.algorithm, "algorithm", context=context)
    stragglers = None
    if config.stragglers is not None:
        stragglers = StragglerSimulator(
            config.stragglers,
            config.preprocess.epochs,
            process.accepts_partial_work,
            config.clients_per_round,
        )
    eval_trainer = runtime.make_trainer(model, None, LocalRule())
    fed_eval = build_fed_eval(model, runtime, eval_trainer)
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

    def evaluate_clients(weights: Any, cohort: Any) -> Any:
        state = fed_eval.set_model_weights(fed_eval.initialize(), weights)
        return fed_eval.next(state, cohort).metrics["client_work"]["eval"]["current_round_metrics"]

    train_eval_ids: list[str] = []
    if config.eval_train:
        train_ids = data.train.client_ids
        train_eval_ids = list(
            train_ids[: config.eval_clients] if config.eval_clients else train_ids
        )
    evaluator = Evaluator(
        eval_trainer,
        data,
        eval_ids,
        config.preprocess.eval_batch_size,
        evaluate_clients,
        personalization,
        train_client_ids=train_eval_ids,
    )
    sampler = SAMPLERS.build(config.sampling, "sampling")
    return BuiltRun(config, data, process, sampler, evaluator, runtime, stragglers)


def run(plain: Mapping[str, Any], output_dir: str) -> dict[str, Any]:
    """Builds and trains; writes `tb/`, `metrics.jsonl`, `checkpoints/` and `summary.json`.

    The run directory is locked for the whole run (`RunDirectoryLockedError` if
    another process holds it); see `_run` for the rest.
    """
    from fedrun.training.run_directory import lock_run_directory

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
    from fedrun.training.atomic import write_atomic
    from fedrun.training.callbacks import JsonlCallback, ProgressCallback, TensorBoardCallback
    from fedrun.training.checkpointer import Checkpointer
    from fedrun.training.loop import LoopConfig, run_rounds
    from fedrun.training.resume import check_resume_path, prepare_resume
    from fedrun.training.run_directory import (
        CHECKPOINTS_DIR,
        METRICS_FILE,
        SUMMARY_FILE,
        TENSORBOARD_DIR,
        prepare_run_directory,
    )
    from fedrun.training.signals import StopRequest

    prepare_run_directory(output_dir)
    resume = validate(plain).resume
    if resume is not None:  # a missing path fails before anything is built
        check_resume_path(resume)
    built = build(plain)
    config = built.config
    start = prepare_resume(
        built.process, output_dir, config.resume, config.checkpoint.enabled, plain
    )
    tb_dir = os.path.join(output_dir, TENSORBOARD_DIR)
    callbacks = [TensorBoardCallback(tb_dir), JsonlCallback(os.path.join(output_dir, METRICS_FILE))]
    if config.progress:
        callbacks.append(ProgressCallback(config.rounds))
    target = None
    if config.target_accuracy is not None:
        from fedrun.training.targets import TargetAccuracyCallback

        target = TargetAccuracyCallback(config.target_accuracy, stop=config.stop_at_target)
        for record in start.records:  # a resumed run may have reached it already
            target.on_round_end(record)
        callbacks.append(target)
    if config.print_signature:
        print(built.process.initialize.type_signature.formatted_representation(), flush=True)
    from fedrun.training.hparams import HParamsCallback, job_overrides

    overrides = job_overrides(output_dir)
    if overrides:  # a Hydra job: its overrides are its hyperparameters (sweeps)
        callbacks.append(HParamsCallback(tb_dir, overrides))
    loop_config = LoopConfig(
        config.rounds,
        config.clients_per_round,
        config.seed,
        config.eval_every,
        config.preprocess,
        config.min_clients,
    )
    checkpointer = None
    if config.checkpoint.enabled:
        checkpoints = os.path.join(output_dir, CHECKPOINTS_DIR)
        client_states = getattr(built.process, "client_states", None)
        checkpointer = Checkpointer(
            checkpoints, config.checkpoint, client_states, plain, start.round_num
        )
    started = time.perf_counter()
    try:
        with StopRequest() as stop:
            state, records = run_rounds(
                built.process,
                built.data,
                built.sampler,
                loop_config,
                start.state,
                built.evaluator,
                callbacks,
                start.round_num + 1,
                stragglers=built.stragglers,
                checkpointer=checkpointer,
                stop=stop,
            )
    finally:
        built.runtime.close()
    summary = make_summary(start.records + records, time.perf_counter() - started, output_dir)
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
