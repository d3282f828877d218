"""The one training loop: sample a cohort, run a round, call back, checkpoint.

Evaluation is a callback (`fedrun.training.evaluation.EvaluationCallback`): it
receives each round's global weights through `Callback.on_round_trained`.

A round that raises leaves the state of the last completed round in place; that
state is checkpointed before the error propagates, so a fixed run resumes from
it. A SIGINT/SIGTERM (see `fedrun.training.signals`) stops after the round in
progress, with a checkpoint.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any, Optional, Sequence

from fedrun.data.client_data import FederatedData
from fedrun.data.preprocess import PreprocessConfig
from fedrun.learning.faults import (
    RoundFailedError,
    build_cohort_dropping_failures,
    clients_lost_in_aggregation,
)
from fedrun.learning.process import LearningProcess
from fedrun.training.callbacks import Callback, Record
from fedrun.training.checkpoint import CheckpointError
from fedrun.training.checkpointer import Checkpointer
from fedrun.training.metrics import to_python
from fedrun.training.sampling import Sampler
from fedrun.training.signals import RunInterrupted, StopRequest
from fedrun.training.stragglers import StragglerSimulator

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class LoopConfig:
    """The loop's settings (top-level config keys).

    Attributes:
        rounds: Rounds to run in total.
        clients_per_round: Cohort size.
        seed: The run's seed.
        preprocess: Client preprocessing.
        min_clients: Fewest clients that must survive a round (see
            `fedrun.learning.faults`); below that the round fails.
    """

    rounds: int
    clients_per_round: int
    seed: int
    preprocess: PreprocessConfig
    min_clients: int = 1


def round_record(
    round_num: int, metrics: Any, cohort_size: int, seconds: float, data_failed: int = 0
) -> Record:
    """The plain record of one round from a learning process's metrics.

    `clients` is the number of clients sampled, `clients_failed` how many of them
    were dropped (`data_failed` whose data raised, plus client work's
    `training_failed` and `update_non_finite`, plus the clients of a secure sum that
    could not be unmasked).
    """
    plain = to_python(metrics)
    client_work = dict(plain.get("client_work", {}))
    record: Record = {"round": round_num, "train": client_work.pop("train", {})}
    if client_work:
        record["client_work"] = client_work
    if plain.get("distributor"):
        record["distributor"] = plain["distributor"]
    record["aggregator"] = plain.get("aggregator", {})
    record["finalizer"] = plain.get("finalizer", {})
    record["clients"] = cohort_size
    record["clients_failed"] = (
        data_failed
        + sum(client_work.get(k, 0) for k in ("training_failed", "update_non_finite"))
        + clients_lost_in_aggregation(record["aggregator"])
    )
    record["round_seconds"] = seconds
    return record


def run_round(
    process: LearningProcess,
    data: FederatedData,
    sampler: Sampler,
    config: LoopConfig,
    state: Any,
    round_num: int,
    stragglers: Optional[StragglerSimulator] = None,
) -> tuple[Any, Record]:
    """Runs round `round_num` from `state`; returns the new state and the round's record.

    Raises:
        RoundFailedError: if fewer than `config.min_clients` clients survive.
    """
    started = time.perf_counter()
    cohort_ids = sampler.sample(
        data.train.client_ids,
        config.clients_per_round,
        round_num,
        config.seed,
        data.train.num_examples,
    )
    participation = (
        stragglers.plan(cohort_ids, round_num, config.seed) if stragglers is not None else None
    )
    epochs = None
    if participation is not None:
        cohort_ids, epochs = participation.client_ids, participation.epochs
    cohort, data_failed = build_cohort_dropping_failures(
        data.train, cohort_ids, config.preprocess, config.seed, round_num, epochs
    )
    if cohort.num_clients < config.min_clients:  # fail before training the others
        dropped = "; ".join(f"{client_id}: {reason}" for client_id, reason in data_failed.items())
        raise RoundFailedError(
            round_num,
            f"only {cohort.num_clients} of its {len(cohort_ids)} clients have usable data, fewer than "
            f"min_clients={config.min_clients} (dropped {dropped})",
        )
    output = process.next(state, cohort)
    record = round_record(round_num, output.metrics, len(cohort_ids), 0.0, len(data_failed))
    if participation is not None:
        record["client_work"] = {**record.get("client_work", {}), **participation.measurements()}
    survivors = record["clients"] - record["clients_failed"]
    if survivors < config.min_clients:
        raise RoundFailedError(
            round_num,
            f"only {survivors} of its {record['clients']} clients survived, fewer than min_clients={config.min_clients}",
        )
    record["round_seconds"] = time.perf_counter() - started
    return output.state, record


def _save_after_failure(checkpointer: Optional[Checkpointer], round_num: int, state: Any) -> None:
    if checkpointer is None or round_num < 1 or round_num == checkpointer.last_saved_round:
        return
    try:
        path = checkpointer.save(round_num, state)
        logger.warning(
            "saved the state after round %d to %s; re-run the same command to resume from it",
            round_num,
            path,
        )
    except CheckpointError as err:
        logger.warning("could not checkpoint round %d after the failure: %s", round_num, err)


def run_rounds(
    process: LearningProcess,
    data: FederatedData,
    sampler: Sampler,
    config: LoopConfig,
    state: Any,
    callbacks: Sequence[Callback] = (),
    start_round: int = 1,
    stragglers: Optional[StragglerSimulator] = None,
    checkpointer: Optional[Checkpointer] = None,
    stop: Optional[StopRequest] = None,
) -> tuple[Any, list[Record]]:
    """Runs rounds `start_round..config.rounds` from `state`.

    Args:
        callbacks: Called each round: `on_round_trained` (evaluation), then
            `on_round_end` (loggers), each in order.
        stragglers: Decides each round which sampled clients train and for how
            many epochs; its counts go to the record's `client_work`.
        checkpointer: Saves checkpoints when due, at the end, on a stop request
            and after a failed round (the state of the last completed round).
        stop: Polled after every round; when set, the loop checkpoints and
            raises `RunInterrupted`.

    A callback that sets its `stop_training` ends the run after the current round
    (checkpointed like a last round).

    Returns:
        The final state and the records of the rounds run.
    """
    for callback in callbacks:
        callback.on_train_begin(start_round)
    records = []
    completed = start_round - 1
    try:
        for round_num in range(start_round, config.rounds + 1):
            new_state, record = run_round(
                process, data, sampler, config, state, round_num, stragglers
            )
            global_weights = process.get_model_weights(new_state)
            for callback in callbacks:
                callback.on_round_trained(record, global_weights)
            for callback in callbacks:
                callback.on_round_end(record)
            records.append(record)
            state, completed = new_state, round_num
            finished = any(callback.stop_training for callback in callbacks)
            if checkpointer is not None and (
                finished or checkpointer.is_due(round_num, config.rounds)
            ):
                checkpointer.save(round_num, state)
            if finished:
                break
            if stop is not None and stop.signal_number is not None and round_num < config.rounds:
                path = checkpointer.save(round_num, state) if checkpointer is not None else None
                raise RunInterrupted(round_num, path, stop.signal_number)
    except (RunInterrupted, CheckpointError):
        raise
    except Exception:
        _save_after_failure(checkpointer, completed, state)
        raise
    return state, records
