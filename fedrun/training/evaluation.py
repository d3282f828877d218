"""Evaluation of the global model each evaluation round: federated, centralized, on training data.

`EvaluationCallback` is the loop's evaluation: every `eval_every` rounds (and
after the last) it calls an `Evaluator` with the global weights, which runs the
runtime's own evaluation of the run's evaluation trainer (no learning process in
between), and records the round's `eval` entry: `federated` (clients' test
splits), `centralized` (the central test set), `personalization` and `train` (the
global model on clients' training data), each present when configured.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

from fedrun.data.client_data import FederatedData
from fedrun.data.cohort import arrays_cohort, build_eval_cohort
from fedrun.learning.evaluation import evaluate_centralized, evaluate_federated
from fedrun.runtime.base import Runtime
from fedrun.runtime.protocol import Trainer
from fedrun.training.callbacks import Callback, Record
from fedrun.training.metrics import to_python

# What `EvaluationCallback` calls with the global weights each evaluation round (an
# `Evaluator`, or one that wraps it).
Evaluate = Callable[[Any], dict[str, Any]]


class Evaluator:
    """Evaluates the global model: federated on clients' test data, and centralized.

    Args:
        trainer: A trainer of the model (its compiled evaluation is reused).
        data: The federated data (its `test` clients and `central_test` set).
        eval_client_ids: Clients whose test data the federated evaluation uses.
        batch_size: Evaluation batch size.
        runtime: Runs the federated evaluation of a cohort (its `evaluate`).
        personalization: Weights -> personalization metrics, if configured.
        train_client_ids: Clients whose training data the global model is also
            evaluated on (results under `train`: the training loss of the global
            model, as FedProx reports it); empty for none.
    """

    def __init__(
        self,
        trainer: Trainer,
        data: FederatedData,
        eval_client_ids: Sequence[str],
        batch_size: int,
        runtime: Runtime,
        personalization: Optional[Callable[[Any], Any]] = None,
        train_client_ids: Sequence[str] = (),
    ) -> None:
        self._trainer = trainer
        self._runtime = runtime
        self._personalization = personalization
        self._federated = (
            build_eval_cohort(data.test, eval_client_ids, batch_size)
            if data.test is not None and eval_client_ids
            else None
        )
        self._central = (
            arrays_cohort(data.central_test, batch_size) if data.central_test is not None else None
        )
        self._on_train = (
            build_eval_cohort(data.train, train_client_ids, batch_size)
            if train_client_ids
            else None
        )

    def __call__(self, weights: Any) -> dict[str, Any]:
        results: dict[str, Any] = {}
        if self._federated is not None:
            results["federated"] = to_python(
                evaluate_federated(self._runtime, self._trainer, weights, self._federated)
            )
        if self._central is not None:
            results["centralized"] = to_python(
                evaluate_centralized(self._trainer, weights, self._central)
            )
        if self._personalization is not None:
            results["personalization"] = to_python(self._personalization(weights))
        if self._on_train is not None:
            results["train"] = to_python(
                evaluate_federated(self._runtime, self._trainer, weights, self._on_train)
            )
        return results


class EvaluationCallback(Callback):
    """Evaluates the global model every `eval_every` rounds and after the last.

    Adds the round record's `eval`: what `evaluate` returns (`federated`,
    `centralized`, `personalization`, `train`, `backdoor`, each when configured),
    before any callback's `on_round_end` sees the record.

    Args:
        evaluate: Global weights -> the record's `eval` entry (an `Evaluator`).
        eval_every: Evaluate every N rounds; 0 never.
        rounds: The run's last round (always evaluated unless `eval_every` is 0).
    """

    def __init__(self, evaluate: Evaluate, eval_every: int, rounds: int) -> None:
        self._evaluate = evaluate
        self._eval_every = eval_every
        self._rounds = rounds

    def is_due(self, round_num: int) -> bool:
        """Whether round `round_num` is an evaluation round."""
        return self._eval_every > 0 and (
            round_num % self._eval_every == 0 or round_num == self._rounds
        )

    def on_round_trained(self, record: Record, global_weights: Any) -> None:
        if self.is_due(record["round"]):
            record["eval"] = self._evaluate(global_weights)
