"""Personalization evaluation (TFF's `build_personalization_eval`).

How well does the global model serve each client once the client adapts it? Each
evaluated client fine-tunes the global model for a few local steps on its own train
split, then the model before and after fine-tuning is evaluated on the client's
test split. Metrics are summed over clients, then finalized (as federated
evaluation does), so `before` equals federated evaluation on the same clients.

Fine-tuning and both evaluations run in one call of the runtime's compiled
training function: a `LocalRule` evaluates the initial and the fine-tuned weights
on the test batches passed as round inputs, so every runtime supports it.

Config (top-level `personalization:`, null for none):

    personalization:
      clients: 10          # the first N clients with test data; null: as many as eval_clients
      epochs: 1            # passes over each client's train split
      max_steps: 5         # stop after this many local steps (null: all of the epochs)
      batch_size: 20
      learning_rate: null  # null: the client optimizer's learning rate

Reported in the round record as `eval.personalization.{before, after}`, each
`{<metrics>, loss, num_examples, num_batches}`, plus `clients`.
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Any, Optional, Sequence

import numpy as np
import tensorflow as tf

from fedrun.config.params import bounded
from fedrun.core import intrinsics
from fedrun.core.placements import AtClients
from fedrun.data.client_data import ClientData
from fedrun.data.cohort import CohortData, build_cohort, build_eval_cohort
from fedrun.data.preprocess import PreprocessConfig
from fedrun.models.functional import FunctionalModel, ModelWeights
from fedrun.optimizers import Optimizer
from fedrun.runtime.base import Runtime, client_seeds
from fedrun.runtime.trainer import LocalRule, RoundInputs

Nest = Any


@dataclasses.dataclass(frozen=True)
class PersonalizationConfig:
    """The `personalization:` block.

    Attributes:
        clients: How many clients to evaluate (the first with test data); null
            uses the run's `eval_clients`.
        epochs: Passes over each client's train split while fine-tuning.
        max_steps: Stop fine-tuning after this many local steps; null for none.
        batch_size: Fine-tuning batch size.
        learning_rate: Fine-tuning learning rate; null: the client optimizer's.
    """

    clients: Optional[int] = bounded(None, ge=1)
    epochs: int = bounded(1, ge=1)
    max_steps: Optional[int] = bounded(5, ge=1)
    batch_size: int = bounded(20, ge=1)
    learning_rate: Optional[float] = bounded(None, gt=0)


def _stack(nest: Nest, count: tf.Tensor) -> Nest:
    return tf.nest.map_structure(lambda t: tf.repeat(tf.expand_dims(t, 0), count, axis=0), nest)


class BeforeAfterEvaluation(LocalRule):
    """Evaluates the initial and the fine-tuned weights on each client's test batches.

    Round inputs: `broadcast = {"pool": test examples, "non_trainable": weights}`,
    `per_client = {"index": [K, S, B], "mask": [K, S, B]}` (test batches).
    Extra outputs: `{"before": metrics, "after": metrics}` (unfinalized, stacked).
    """

    def __init__(self, model: FunctionalModel) -> None:
        self.model = model

    def _client_metrics(
        self,
        trainable: list[tf.Tensor],
        non_trainable: list[tf.Tensor],
        x: Nest,
        y: tf.Tensor,
        mask: tf.Tensor,
        metrics: Nest,
    ) -> Nest:
        weights = ModelWeights(trainable, non_trainable)
        predictions, _ = self.model.predict(weights, self.model.initial_state, x, training=False)
        losses = self.model.per_example_loss(y, predictions) * mask
        return self.model.update_metrics(metrics, y, predictions, losses, mask)

    def _evaluate(self, trainable: list[tf.Tensor], inputs: RoundInputs) -> Nest:
        index, mask = inputs.per_client["index"], inputs.per_client["mask"]
        pool, non_trainable = inputs.broadcast["pool"], inputs.broadcast["non_trainable"]
        metrics = _stack(self.model.initial_metrics(), tf.shape(index)[0])
        for s in tf.range(tf.shape(index)[1]):
            batch = tf.nest.map_structure(lambda t: tf.gather(t, index[:, s]), pool)
            metrics = tf.vectorized_map(
                lambda a: self._client_metrics(a[0], non_trainable, a[1], a[2], a[3], a[4]),
                (trainable, batch["x"], batch["y"], mask[:, s], metrics),
            )
        return metrics

    def client_outputs(
        self,
        initial: list[tf.Tensor],
        final: list[tf.Tensor],
        initial_gradient: list[tf.Tensor],
        num_steps: tf.Tensor,
        inputs: RoundInputs,
    ) -> Nest:
        return {"before": self._evaluate(initial, inputs), "after": self._evaluate(final, inputs)}


def _truncate(cohort: CohortData, max_steps: Optional[int]) -> CohortData:
    if max_steps is None:
        return cohort
    return dataclasses.replace(
        cohort, index=cohort.index[:, :max_steps], mask=cohort.mask[:, :max_steps]
    )


class PersonalizationEvaluator:
    """Fine-tunes the global model on each evaluated client and evaluates before/after.

    Args:
        model: The model.
        optimizer: The client optimizer used for fine-tuning.
        runtime: Executes the fine-tuning.
        train: Clients' train splits.
        test: Clients' test splits.
        client_ids: The clients to evaluate (present in both splits).
        config: The `personalization:` block.
        preprocess: The run's preprocessing (shuffle buffer, eval batch size).
        seed: The run's seed (fine-tuning order, the same at every evaluation).

    Calling it with the global weights returns `{before, after, clients}`.
    """

    def __init__(
        self,
        model: FunctionalModel,
        optimizer: Optimizer,
        runtime: Runtime,
        train: ClientData,
        test: ClientData,
        client_ids: Sequence[str],
        config: PersonalizationConfig,
        preprocess: PreprocessConfig,
        seed: int,
    ) -> None:
        self.model = model
        self.runtime = runtime
        self.client_ids = list(client_ids)
        self.trainer = runtime.make_trainer(model, optimizer, BeforeAfterEvaluation(model))
        fine_tune = dataclasses.replace(
            preprocess, epochs=config.epochs, batch_size=config.batch_size, shuffle_seed=seed
        )
        self.cohort = _truncate(
            build_cohort(train, self.client_ids, fine_tune, seed, 0), config.max_steps
        )
        evaluation = build_eval_cohort(test, self.client_ids, preprocess.eval_batch_size)
        self._test_pool = evaluation.pool
        self._test_batches = {"index": evaluation.index, "mask": evaluation.mask}
        learning_rate = (
            config.learning_rate if config.learning_rate is not None else optimizer.learning_rate
        )
        self._learning_rate = tf.constant(learning_rate, tf.float32)
        self._seeds = client_seeds(seed, 0, self.client_ids)

    def __call__(self, weights: ModelWeights) -> collections.OrderedDict[str, Any]:
        broadcast = {"pool": self._test_pool, "non_trainable": list(weights.non_trainable)}
        inputs = RoundInputs(self._learning_rate, broadcast, self._test_batches, self._seeds)
        outputs = self.runtime.train(self.trainer, weights, self.cohort, inputs)
        count = len(self.client_ids)
        summed = {k: intrinsics.sum(AtClients(v, count)).value for k, v in outputs.extra.items()}
        return collections.OrderedDict(
            before=self.model.finalize_metrics(summed["before"]),
            after=self.model.finalize_metrics(summed["after"]),
            clients=np.int64(count),
        )


def personalization_clients(train: ClientData, test: ClientData, count: Optional[int]) -> list[str]:
    """The first `count` (all if None) test clients that also hold train data."""
    chosen = []
    for cid in test.client_ids:
        if count is not None and len(chosen) == count:
            break
        try:
            usable = test.num_examples(cid) > 0 and train.num_examples(cid) > 0
        except KeyError:  # a test-only client has nothing to fine-tune on
            usable = False
        if usable:
            chosen.append(cid)
    return chosen


__all__ = ["PersonalizationConfig", "PersonalizationEvaluator", "personalization_clients"]
