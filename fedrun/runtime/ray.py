"""`runtime=ray`: the cohort's client work runs in Ray actors.

The driver keeps the learning process: it samples the cohort, aggregates the
clients' updates and applies the server optimizer, so placements stay as they are
in-process. Only local training (and federated evaluation) leaves the driver:
`num_workers` actors (`fedrun.runtime.ray_worker.ClientWorker`) each build the run's
data source and model from a `WorkerRecipe` and each trainer from the
`TrainerRecipe` its requests carry (a compiled `Trainer`: the vectorized
runtime over its share, or sequential), and load their clients' data by id from
their own data source. Weights go out and updates come back as numpy arrays. Per-client
seeds and batch schedules derive from (seed, round, client id), so a run gives the
same numbers as `runtime=sequential` for the same seed.

`address: null` starts a local Ray with `num_cpus` and shuts it down in `close()`;
`auto` or `ray://host:port` joins an existing cluster (and only disconnects at
the end). Ray is imported only when this runtime is used: fedrun works without it.

A worker that dies (its process killed, a crashed node, a Python-level exit) is
replaced and its share retried once on the new actor, with the same inputs, so the
round's numbers are those of an undisturbed one; if it dies again, the share's
clients are lost for the round: the round drops them like clients whose training
raised (`client_work.training_failed` in `metrics.jsonl`). Each round's training
reports what happened under `client_work.runtime`: `workers_lost` (actor deaths),
`shares_retried` and `clients_lost`.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
import os
from pathlib import Path
from typing import Any, Literal, NamedTuple, Optional, Union

import numpy as np
import tensorflow as tf

from fedrun.config.errors import ConfigError
from fedrun.config.params import bounded
from fedrun.data.cohort import CohortData
from fedrun.models.functional import ModelWeights
from fedrun.optimizers import Optimizer
from fedrun.runtime.base import RUNTIMES, Runtime
from fedrun.runtime.client_steps import ClientStep
from fedrun.runtime.local import SequentialRuntime, VectorizedRuntime
from fedrun.runtime.memory import parse_budget
from fedrun.runtime.protocol import Trainer
from fedrun.runtime.ray_pool import PoolOutcome, WorkerPool, balanced_shares
from fedrun.runtime.ray_worker import ClientWorker, ShareRequest, to_numpy, to_tensors
from fedrun.runtime.recipe import TrainerRecipe, WorkerRecipe
from fedrun.runtime.trainer import ClientOutputs, LocalRule, RoundInputs
from fedrun.runtime.variable_trainer import LearningModel

Nest = Any
INSTALL_HINT = "pip install 'fedrun[ray]'"
logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class RayParams:
    """The `runtime: {type: ray}` node.

    Attributes:
        address: null starts a local Ray; `auto` joins the cluster of this machine;
            `host:6379` joins a cluster by its head's address; `ray://host:10001`
            joins a remote cluster through Ray Client.
        num_cpus: CPUs of the local Ray (null: all); only with `address: null`.
        num_workers: Actors training clients (each a share of the cohort, balanced by examples).
        cpus_per_worker: CPUs Ray reserves per actor (also its TensorFlow threads).
        local: How an actor trains its share: `vectorized` (together) or `sequential`.
        chunk_size: Clients per compiled call of an actor's vectorized runtime.
        memory_budget: Bytes (or a size like "4GB") each actor's client work may
            use; null: a fraction of that node's available memory.
        ship_code: Upload this fedrun package to the cluster with the job (for
            nodes that do not have it installed); TensorFlow must be there already.
        object_store_memory: Bytes (or a size like "200MB") of the local Ray's
            object store, which holds the weights and updates in transit (null:
            Ray's default, a share of the machine's memory); only with `address: null`.
    """

    address: Optional[str] = None
    num_cpus: Optional[int] = bounded(None, ge=1)
    num_workers: int = bounded(2, ge=1)
    cpus_per_worker: float = bounded(1.0, gt=0)
    local: Literal["sequential", "vectorized"] = "vectorized"
    chunk_size: Optional[int] = bounded(None, ge=1)
    memory_budget: Optional[Union[int, str]] = None
    ship_code: bool = False
    object_store_memory: Optional[Union[int, str]] = None

    def __post_init__(self) -> None:
        if importlib.util.find_spec("ray") is None:
            raise ValueError(
                f"runtime=ray needs Ray, which is not installed; install it with: {INSTALL_HINT}"
            )
        if self.address is not None and self.num_cpus is not None:
            raise ValueError("num_cpus sizes a local Ray (address: null); a cluster has its own")
        parse_budget(self.memory_budget)
        parse_budget(self.object_store_memory, "runtime.object_store_memory")
        if self.address is not None and self.object_store_memory is not None:
            raise ValueError(
                "object_store_memory sizes a local Ray (address: null); a cluster has its own"
            )
        if self.num_cpus is not None and self.num_workers * self.cpus_per_worker > self.num_cpus:
            raise ValueError(
                f"num_workers * cpus_per_worker = {self.num_workers * self.cpus_per_worker} exceeds num_cpus = {self.num_cpus}"
            )

    def local_runtime(self) -> Runtime:
        """A fresh in-process runtime for one actor to train with."""
        if self.local == "vectorized":
            return VectorizedRuntime(self.chunk_size, memory_budget=self.memory_budget)
        return SequentialRuntime(memory_budget=self.memory_budget)


def runtime_env(ship_code: bool) -> dict[str, Any]:
    """Ray's `runtime_env` for the actors: they import the driver's fedrun (and user
    modules named by `_target_`, found from the working directory)."""
    import fedrun

    package_dir = Path(fedrun.__file__).resolve().parent
    paths = [str(package_dir.parent), os.getcwd(), os.environ.get("PYTHONPATH", "")]
    env: dict[str, Any] = {
        "env_vars": {"PYTHONPATH": os.pathsep.join(p for p in paths if p)},
        # Each worker process imports TensorFlow once, with its C++ start-up lines hidden.
        "worker_process_setup_hook": "fedrun.cli.import_tensorflow_quietly",
    }
    if ship_code:
        env["py_modules"] = [str(package_dir)]
    return env


class WorkerFailures(NamedTuple):
    """Worker deaths in training calls, counted for a round's measurements.

    Attributes:
        workers_lost: Actors that died while training a share (each is replaced).
        shares_retried: Shares retried on a replacement after their actor died.
        clients_lost: Clients of shares whose actor died twice (dropped from the round).
    """

    workers_lost: int = 0
    shares_retried: int = 0
    clients_lost: int = 0

    def add(self, outcome: PoolOutcome, clients_lost: int) -> WorkerFailures:
        """These counts plus one pool call's."""
        return WorkerFailures(
            self.workers_lost + len(outcome.retried) + len(outcome.dropped),
            self.shares_retried + len(outcome.retried),
            self.clients_lost + clients_lost,
        )


class RayRuntime(Runtime):
    """Client work in Ray actors; see the module docstring.

    Args:
        params: The runtime's config.
        recipe: What the actors build the run's data and model from (None: the
            runtime cannot start actors).
        worker_class: The actor's class (a `ClientWorker`; tests inject failures).

    Attributes:
        dropped_clients: Clients dropped so far because their actor died twice.
        last_worker_seconds: How long the busiest worker spent on the last call's
            share; the rest of the call's time is Ray's and the driver's overhead.
    """

    vectorize = False  # the driver's own trainers evaluate one centralized set at a time

    def __init__(
        self,
        params: RayParams,
        recipe: Optional[WorkerRecipe] = None,
        worker_class: type = ClientWorker,
    ) -> None:
        self.params = params
        self.recipe = recipe
        self.worker_class = worker_class
        self.dropped_clients = 0
        self._lost_clients: set[str] = set()
        self._counts = WorkerFailures()
        self.last_worker_seconds = 0.0
        self._trainers: list[tuple[Trainer, TrainerRecipe]] = []
        self._steps: list[ClientStep] = []
        self._pool: Optional[WorkerPool] = None
        self._owns_connection = False
        self._restarts = 0

    @property
    def trainers(self) -> tuple[Trainer, ...]:
        """The trainers made so far, in the order the run's build made them."""
        return tuple(trainer for trainer, _ in self._trainers)

    @property
    def restarts(self) -> int:
        """Workers replaced so far after dying."""
        return self._restarts + (self._pool.restarts if self._pool is not None else 0)

    def make_trainer(
        self, model: LearningModel, optimizer: Optional[Optimizer], rule: LocalRule
    ) -> Trainer:
        # The position in this list names the trainer in requests; its recipe tells
        # the actors how to build it.
        trainer = super().make_trainer(model, optimizer, rule)
        self._trainers.append((trainer, TrainerRecipe(rule, optimizer)))
        return trainer

    def add_client_step(self, step: ClientStep) -> None:
        """Runs `step` in the actors on every share's outputs (see `client_steps`)."""
        self._steps.append(step)

    # ------------------------------------------------------------------ execution
    def train(
        self, trainer: Trainer, weights: ModelWeights, cohort: CohortData, inputs: RoundInputs
    ) -> ClientOutputs:
        return self._gather(
            self.share_requests("train", trainer, cohort, inputs), weights, cohort.round_num
        )

    def evaluate(self, trainer: Trainer, weights: ModelWeights, cohort: CohortData) -> Nest:
        return self._gather(
            self.share_requests("evaluate", trainer, cohort), weights, cohort.round_num
        )

    def share_requests(
        self,
        kind: Literal["train", "evaluate"],
        trainer: Trainer,
        cohort: CohortData,
        inputs: Optional[RoundInputs] = None,
    ) -> list[ShareRequest]:
        """The cohort dealt into one `ShareRequest` per worker, balanced by examples."""
        index = next((i for i, (t, _) in enumerate(self._trainers) if t is trainer), None)
        if index is None:
            raise ValueError("runtime=ray runs only trainers made by its own make_trainer")
        recipe = self._trainers[index][1]
        plain_inputs = to_numpy(inputs) if inputs is not None else None
        mask = cohort.mask.numpy()
        return [
            ShareRequest(
                kind,
                index,
                recipe,
                tuple(cohort.client_ids),
                share,
                int(cohort.round_num),
                int(cohort.seed),
                mask[list(share)],
                _slice_inputs(plain_inputs, share) if plain_inputs is not None else None,
            )
            for share in balanced_shares(mask.sum(axis=(1, 2)), self.params.num_workers)
        ]

    def _gather(self, requests: list[ShareRequest], weights: ModelWeights, round_num: int) -> Nest:
        pool = self._ensure_pool()
        plain_weights = ModelWeights(
            to_numpy(list(weights.trainable)), to_numpy(list(weights.non_trainable))
        )
        outcome = pool.run(requests, plain_weights, self._steps)
        results = outcome.results
        self.last_worker_seconds = (
            max(r.seconds for r in results if r is not None) if any(results) else 0.0
        )
        ids = [cid for i in outcome.dropped for cid in requests[i].client_ids]
        if requests and requests[0].kind == "train":
            self._counts = self._counts.add(outcome, len(ids))
            self._lost_clients.update(ids)
        if ids:
            self.dropped_clients += len(ids)
            logger.warning(
                "round %d: clients %s dropped after their Ray worker died twice", round_num, ids
            )
        return to_tensors(
            join_shares([r.outputs if r is not None else None for r in results], requests)
        )

    def take_lost_clients(self) -> frozenset[str]:
        lost, self._lost_clients = frozenset(self._lost_clients), set()
        return lost

    def take_measurements(self) -> dict[str, int]:
        """`{workers_lost, shares_retried, clients_lost}` of the training calls since
        the last call (see `WorkerFailures`)."""
        counts, self._counts = self._counts, WorkerFailures()
        return counts._asdict()

    # ----------------------------------------------------------------- lifecycle
    def _ensure_pool(self) -> WorkerPool:
        if self._pool is not None:
            return self._pool
        if self.recipe is None:
            raise RuntimeError(
                "runtime=ray needs a worker recipe to start its actors (fedrun.run.build passes one)"
            )
        import ray

        if not ray.is_initialized():
            env = runtime_env(self.params.ship_code)
            if self.params.address is None:
                ray.init(
                    num_cpus=self.params.num_cpus,
                    object_store_memory=parse_budget(self.params.object_store_memory),
                    include_dashboard=False,
                    runtime_env=env,
                    logging_level=logging.WARNING,
                )
            else:
                try:
                    ray.init(
                        address=self.params.address, runtime_env=env, logging_level=logging.WARNING
                    )
                except ConnectionError as err:
                    raise ConfigError(
                        "runtime.address",
                        f"cannot join a Ray cluster there: {err}",
                        self.params.address,
                    ) from None
            self._owns_connection = True
        available = ray.cluster_resources().get("CPU", 0)
        needed = self.params.num_workers * self.params.cpus_per_worker
        if needed > available:
            raise RuntimeError(
                f"runtime=ray: {needed} CPUs needed for the workers, the Ray cluster has {available}"
            )
        threads = max(1, int(self.params.cpus_per_worker))
        args = (self.recipe, self.params.local_runtime(), threads)
        self._pool = WorkerPool(
            ray.remote(self.worker_class),
            args,
            self.params.num_workers,
            self.params.cpus_per_worker,
        )
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._restarts += self._pool.restarts
            self._pool.close()
            self._pool = None
        if self._owns_connection:
            import ray

            ray.shutdown()
            self._owns_connection = False


def join_shares(results: list[Optional[Nest]], requests: list[ShareRequest]) -> Nest:
    """The shares' outputs stacked in cohort order; the clients of a dropped share
    (None) get zero rows: no examples, a zero update, zero metrics."""
    template = next((r for r in results if r is not None), None)
    if template is None:
        raise RuntimeError(
            f"round {requests[0].round_num}: every Ray worker died twice; no client finished"
        )
    count = sum(len(q.positions) for q in requests)
    finished = [(r, list(q.positions)) for r, q in zip(results, requests) if r is not None]

    def place(leaf: np.ndarray, *parts: np.ndarray) -> np.ndarray:
        out = np.zeros((count, *leaf.shape[1:]), leaf.dtype)
        for part, (_, rows) in zip(parts, finished):
            out[rows] = part
        return out

    return tf.nest.map_structure(place, template, *(r for r, _ in finished))


def _slice_inputs(inputs: RoundInputs, positions: tuple[int, ...]) -> RoundInputs:
    """The numpy round inputs of the clients at `positions`."""
    rows = list(positions)
    per_client = tf.nest.map_structure(lambda a: a[rows], inputs.per_client)
    return inputs._replace(per_client=per_client, seeds=inputs.seeds[rows])


@RUNTIMES.register("ray", RayParams)
def _ray(p: RayParams, recipe: Optional[WorkerRecipe] = None) -> Runtime:
    """Client work in Ray actors (local or an existing cluster)."""
    return RayRuntime(p, recipe)
