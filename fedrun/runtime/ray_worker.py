"""The Ray actor of `runtime=ray`: one worker holding its own copy of the run.

A `ClientWorker` rebuilds the whole run from the plain config (data source, model,
client optimizer, the algorithm with its `LocalRule`), exactly as the driver built
it, but with an in-process runtime (`sequential` or `vectorized`). Nothing
TensorFlow crosses process boundaries: the driver sends a `ShareRequest` (client
ids, the round, the driver's batch mask, the round inputs as numpy) and the model
weights as numpy; the worker loads its clients' examples by id from its own data
source, rebuilds their batch schedules from (seed, round, client id), checks them
against the driver's mask, trains, applies the client-side steps and returns
`ClientOutputs` with numpy leaves (in a `ShareResult`, with the time it took).

The class is plain Python; `fedrun.runtime.ray` turns it into a Ray actor. Tests
use it in-process.
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Any, Literal, Mapping, Optional, Sequence

import numpy as np
import tensorflow as tf

from fedrun.data.cohort import CohortData, build_cohort, build_eval_cohort
from fedrun.models.functional import ModelWeights
from fedrun.optimizers import Optimizer
from fedrun.runtime.base import Runtime
from fedrun.runtime.client_steps import ClientStep, ClientStepContext, apply_client_steps
from fedrun.runtime.trainer import ClientOutputs, LocalRule, LocalTrainer, RoundInputs
from fedrun.runtime.variable_trainer import LearningModel

Nest = Any


def to_numpy(nest: Nest) -> Nest:
    """The same nest with every tensor as a numpy array (what crosses to Ray)."""
    return tf.nest.map_structure(
        lambda t: t.numpy() if hasattr(t, "numpy") else np.asarray(t), nest
    )


def to_tensors(nest: Nest) -> Nest:
    """The same nest with every array as a tensor."""
    return tf.nest.map_structure(tf.constant, nest)


def trainer_signature(trainer: LocalTrainer) -> tuple[str, bool]:
    """What identifies a trainer across processes: its rule's class and whether it trains."""
    rule = type(trainer.rule)
    return f"{rule.__module__}.{rule.__qualname__}", trainer.optimizer is not None


@dataclasses.dataclass(frozen=True)
class ShareRequest:
    """One actor's share of a cohort, as plain data.

    Attributes:
        kind: `train` (a training cohort) or `evaluate` (test-split evaluation).
        trainer_index: Which trainer, in the order the run's build created them.
        trainer_signature: `trainer_signature` of that trainer on the driver.
        cohort_ids: The whole cohort, in order.
        positions: Positions of this share's clients in the cohort.
        round_num: The round (0 for evaluation).
        seed: The run's seed.
        mask: The driver's batch mask of the share's clients `[k, S, B]`.
        inputs: The share's round inputs with numpy leaves (training only).
    """

    kind: Literal["train", "evaluate"]
    trainer_index: int
    trainer_signature: tuple[str, bool]
    cohort_ids: tuple[str, ...]
    positions: tuple[int, ...]
    round_num: int
    seed: int
    mask: np.ndarray
    inputs: Optional[RoundInputs] = None

    @property
    def client_ids(self) -> list[str]:
        return [self.cohort_ids[p] for p in self.positions]


@dataclasses.dataclass(frozen=True)
class ShareResult:
    """What a worker sends back for one share.

    Attributes:
        outputs: `ClientOutputs` (training) or stacked metrics (evaluation), numpy leaves.
        seconds: Time the worker spent on the share (rebuilding batches, training,
            client-side steps), to tell compute from Ray's own overhead.
    """

    outputs: Nest
    seconds: float


class ScheduleMismatch(ValueError):
    """The driver's batches cannot be rebuilt from (seed, round, client id)."""


class _RecordingRuntime(Runtime):
    """Delegates to an in-process runtime and remembers the trainers it made, in order."""

    def __init__(self, inner: Runtime) -> None:
        self.inner = inner
        self.vectorize = inner.vectorize
        self.trainers: list[LocalTrainer] = []

    def make_trainer(
        self, model: LearningModel, optimizer: Optional[Optimizer], rule: LocalRule
    ) -> LocalTrainer:
        trainer = self.inner.make_trainer(model, optimizer, rule)
        self.trainers.append(trainer)
        return trainer

    def train(
        self, trainer: LocalTrainer, weights: ModelWeights, cohort: CohortData, inputs: RoundInputs
    ) -> ClientOutputs:
        return self.inner.train(trainer, weights, cohort, inputs)

    def evaluate(self, trainer: LocalTrainer, weights: ModelWeights, cohort: CohortData) -> Nest:
        return self.inner.evaluate(trainer, weights, cohort)


def _same_mask(rebuilt: np.ndarray, expected: np.ndarray) -> bool:
    steps = max(rebuilt.shape[1], expected.shape[1])
    pad = lambda m: np.pad(m, ((0, 0), (0, steps - m.shape[1]), (0, 0)))  # noqa: E731
    return rebuilt.shape[2] == expected.shape[2] and np.array_equal(pad(rebuilt), pad(expected))


class ClientWorker:
    """Trains shares of cohorts in its own process (the body of a Ray actor).

    Args:
        run_config: The run's plain config.
        local_node: The in-process runtime node to train with (`{type: vectorized}`).
        threads: TensorFlow intra-op threads (None leaves TensorFlow's default); set
            before TensorFlow runs anything, so the actors of one machine share its
            cores instead of each using all of them.
    """

    def __init__(
        self,
        run_config: Mapping[str, Any],
        local_node: Mapping[str, Any],
        threads: Optional[int] = None,
    ) -> None:
        if threads is not None:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        from fedrun.run import build
        from fedrun.runtime import RUNTIMES

        self._runtime = _RecordingRuntime(RUNTIMES.build(dict(local_node), "runtime.local"))
        built = build({**run_config, "runtime": dict(local_node)}, runtime=self._runtime)
        self._data = built.data
        self._preprocess = built.config.preprocess

    def ready(self) -> int:
        """The worker's process id, once it is built."""
        return os.getpid()

    def run_share(
        self, request: ShareRequest, weights: ModelWeights, steps: Sequence[ClientStep] = ()
    ) -> ShareResult:
        """Trains (or evaluates) the share's clients."""
        started = time.perf_counter()
        trainer = self._trainer(request)
        tensor_weights = ModelWeights(
            to_tensors(list(weights.trainable)), to_tensors(list(weights.non_trainable))
        )
        if request.kind == "evaluate":
            cohort = self._eval_cohort(request)
            outputs = to_numpy(self._runtime.evaluate(trainer, tensor_weights, cohort))
        else:
            cohort = self._train_cohort(request)
            trained = self._runtime.train(
                trainer, tensor_weights, cohort, to_tensors(request.inputs)
            )
            context = ClientStepContext(
                request.cohort_ids, request.positions, request.round_num, request.seed
            )
            outputs = apply_client_steps(steps, to_numpy(trained), context)
        return ShareResult(outputs, time.perf_counter() - started)

    def _trainer(self, request: ShareRequest) -> LocalTrainer:
        trainers = self._runtime.trainers
        if (
            request.trainer_index >= len(trainers)
            or trainer_signature(trainers[request.trainer_index]) != request.trainer_signature
        ):
            built = [trainer_signature(t) for t in trainers]
            raise RuntimeError(
                f"the worker's rebuilt run has trainers {built}, but the driver asked for "
                f"#{request.trainer_index} {request.trainer_signature}: driver and worker built different runs"
            )
        return trainers[request.trainer_index]

    def _train_cohort(self, request: ShareRequest) -> CohortData:
        ids = request.client_ids
        sizes = np.array([self._data.train.num_examples(cid) for cid in ids], dtype=np.int64)
        processed = request.mask.sum(axis=(1, 2)).astype(np.int64)
        # Per-client epochs (stragglers run fewer) are whatever makes the driver's count.
        epochs = np.where(sizes > 0, processed // np.maximum(sizes, 1), self._preprocess.epochs)
        cohort = build_cohort(
            self._data.train,
            ids,
            self._preprocess,
            request.seed,
            request.round_num,
            epochs=[int(e) for e in epochs],
        )
        self._check(cohort, request, "training")
        return cohort

    def _eval_cohort(self, request: ShareRequest) -> CohortData:
        if self._data.test is None:
            raise ScheduleMismatch("the data set has no test split to evaluate clients on")
        cohort = build_eval_cohort(self._data.test, request.client_ids, int(request.mask.shape[2]))
        self._check(cohort, request, "evaluation")
        return cohort

    @staticmethod
    def _check(cohort: CohortData, request: ShareRequest, what: str) -> None:
        if not _same_mask(cohort.mask.numpy(), request.mask):
            raise ScheduleMismatch(
                f"round {request.round_num}: the {what} batches of clients {request.client_ids} differ from the "
                "driver's; runtime=ray rebuilds each client's batches from (seed, round, client id) with "
                "fedrun.data.cohort, so cohorts must be built that way"
            )
