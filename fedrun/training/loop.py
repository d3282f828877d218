"""The one training loop: sample a cohort, run a round, evaluate, report."""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable, Optional, Sequence

from fedrun.data.client_data import FederatedData
from fedrun.data.cohort import arrays_cohort, build_cohort, build_eval_cohort
from fedrun.data.preprocess import PreprocessConfig
from fedrun.learning.evaluation import evaluate_centralized
from fedrun.learning.process import LearningProcess
from fedrun.runtime.trainer import LocalTrainer
from fedrun.training.callbacks import Callback, Record
from fedrun.training.metrics import to_python
from fedrun.training.sampling import Sampler
from fedrun.training.stragglers import StragglerSimulator


@dataclasses.dataclass(frozen=True)
class LoopConfig:
    """The loop's settings (top-level config keys).

    Attributes:
        rounds: Rounds to run in total.
        clients_per_round: Cohort size.
        seed: The run's seed.
        eval_every: Evaluate every N rounds (and after the last); 0 never.
        preprocess: Client preprocessing.
    """

    rounds: int
    clients_per_round: int
    seed: int
    eval_every: int
    preprocess: PreprocessConfig


class Evaluator:
    """Evaluates the global model: federated on clients' test data, and centralized.

    Args:
        trainer: A trainer of the model (its compiled evaluation is reused).
        data: The federated data (its `test` clients and `central_test` set).
        eval_client_ids: Clients whose test data the federated evaluation uses.
        batch_size: Evaluation batch size.
        evaluate_clients: Runs the federated evaluation of a cohort (the runtime's
            `evaluate`), returning finalized metrics.
        personalization: Weights -> personalization metrics, if configured.
        train_client_ids: Clients whose training data the global model is also
            evaluated on (results under `train`: the training loss of the global
            model, as FedProx reports it); empty for none.
    """

    def __init__(
        self,
        trainer: LocalTrainer,
        data: FederatedData,
        eval_client_ids: Sequence[str],
        batch_size: int,
        evaluate_clients: Callable[[Any, Any], Any],
        personalization: Optional[Callable[[Any], Any]] = None,
        train_client_ids: Sequence[str] = (),
    ) -> None:
        self._trainer = trainer
        self._evaluate_clients = evaluate_clients
        self._personalization = personalization
        self._federated = (
            build_eval_cohort(data.test, eval_client_ids, batch_size) if data.test is not None and eval_client_ids else None
        )
        self._central = arrays_cohort(data.central_test, batch_size) if data.central_test is not None else None
        self._on_train = build_eval_cohort(data.train, train_client_ids, batch_size) if train_client_ids else None

    def __call__(self, weights: Any) -> dict[str, Any]:
        results: dict[str, Any] = {}
        if self._federated is not None:
            results["federated"] = to_python(self._evaluate_clients(weights, self._federated))
        if self._central is not None:
            results["centralized"] = to_python(evaluate_centralized(self._trainer, weights, self._central))
        if self._personalization is not None:
            results["personalization"] = to_python(self._personalization(weights))
        if self._on_train is not None:
            results["train"] = to_python(self._evaluate_clients(weights, self._on_train))
        return results


def round_record(round_num: int, metrics: Any, cohort_size: int, seconds: float) -> Record:
    """The plain record of one round from a learning process's metrics."""
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
    record["round_seconds"] = seconds
    return record


def run_rounds(
    process: LearningProcess,
    data: FederatedData,
    sampler: Sampler,
    config: LoopConfig,
    state: Any,
    evaluator: Optional[Evaluator] = None,
    callbacks: Sequence[Callback] = (),
    start_round: int = 1,
    stragglers: Optional[StragglerSimulator] = None,
) -> tuple[Any, list[Record]]:
    """Runs rounds `start_round..config.rounds` from `state`.

    `stragglers`, if given, decides each round which sampled clients train and for
    how many epochs; its counts go to the record's `client_work`. A callback that
    sets its `stop_training` ends the run after the current round.

    Returns:
        The final state and the records of the rounds run.
    """
    for callback in callbacks:
        callback.on_train_begin(start_round)
    records = []
    client_ids = data.train.client_ids
    for round_num in range(start_round, config.rounds + 1):
        started = time.perf_counter()
        cohort_ids = sampler.sample(client_ids, config.clients_per_round, round_num, config.seed, data.train.num_examples)
        participation = stragglers.plan(cohort_ids, round_num, config.seed) if stragglers is not None else None
        epochs = None
        if participation is not None:
            cohort_ids, epochs = participation.client_ids, participation.epochs
        cohort = build_cohort(data.train, cohort_ids, config.preprocess, config.seed, round_num, epochs=epochs)
        output = process.next(state, cohort)
        state = output.state
        record = round_record(round_num, output.metrics, len(cohort_ids), 0.0)
        if participation is not None:
            record["client_work"] = {**record.get("client_work", {}), **participation.measurements()}
        record["round_seconds"] = time.perf_counter() - started
        due = config.eval_every > 0 and (round_num % config.eval_every == 0 or round_num == config.rounds)
        if evaluator is not None and due:
            record["eval"] = evaluator(process.get_model_weights(state))
        for callback in callbacks:
            callback.on_round_end(record)
        records.append(record)
        if any(getattr(callback, "stop_training", False) for callback in callbacks):
            break
    return state, records
