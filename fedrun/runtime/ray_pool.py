"""The actors of `runtime=ray`: start, dispatch shares, restart the ones that die.

`WorkerPool` owns `num_workers` Ray actors (each a `ClientWorker`). A cohort is cut
into shares of even work, one an actor; the weights go to the object store once per
call and every actor reads them from there. An actor that dies while training a
share is replaced by a new one (which rebuilds the run) and the share is retried
once on it; if it dies again, the share's clients are dropped from the round.
Errors raised by fedrun code inside an actor (a bad schedule, a mismatched build)
are not crashes and propagate to the driver unchanged.
"""

from __future__ import annotations

import logging
from typing import Any, NamedTuple, Optional, Sequence

from fedrun.models.functional import ModelWeights
from fedrun.runtime.client_steps import ClientStep
from fedrun.runtime.ray_worker import ShareRequest, ShareResult

logger = logging.getLogger(__name__)


def balanced_shares(work: Sequence[float], parts: int) -> list[tuple[int, ...]]:
    """Positions `0..len(work)-1` dealt into at most `parts` non-empty shares of
    even total work: the largest first, each to the least loaded share (ties to
    the lower index). Positions are sorted within a share.

    A round lasts as long as its slowest actor, so shares are balanced by the
    examples each client trains on, not by client count.
    """
    count = len(work)
    loads = [0.0] * min(parts, count)
    members: list[list[int]] = [[] for _ in loads]
    for position in sorted(range(count), key=lambda p: (-work[p], p)):
        target = min(range(len(loads)), key=lambda s: (loads[s], s))
        loads[target] += float(work[position])
        members[target].append(position)
    return [tuple(sorted(m)) for m in members if m]


class PoolOutcome(NamedTuple):
    """What one `WorkerPool.run` call ends with.

    Attributes:
        results: Each request's result; None for a share whose actor died twice.
        retried: Indices of the requests whose actor died once (retried on its replacement).
        dropped: Indices of the requests whose actor died twice (their clients are lost).
    """

    results: list[Optional[ShareResult]]
    retried: tuple[int, ...]
    dropped: tuple[int, ...]


class WorkerPool:
    """A fixed number of `ClientWorker` actors.

    Args:
        actor_class: The Ray actor class (`ray.remote(...)` of a worker class).
        worker_args: Positional arguments of the worker's constructor.
        num_workers: Actors to keep.
        cpus_per_worker: CPUs Ray reserves for each actor.
    """

    def __init__(
        self, actor_class: Any, worker_args: tuple, num_workers: int, cpus_per_worker: float
    ) -> None:
        import ray

        self._ray = ray
        self._actor_class = actor_class.options(num_cpus=cpus_per_worker, max_restarts=0)
        self._worker_args = worker_args
        self._actors = [self._actor_class.remote(*worker_args) for _ in range(num_workers)]
        self._wait_ready(range(num_workers))
        self.restarts = 0

    @property
    def size(self) -> int:
        return len(self._actors)

    def _wait_ready(self, indices: Sequence[int]) -> None:
        refs = [self._actors[i].ready.remote() for i in indices]
        try:
            self._ray.get(refs)
        except self._ray.exceptions.RayActorError as err:
            # The constructor rebuilds the run; failing there is a setup error, not a crash to retry.
            raise RuntimeError(f"a Ray worker could not build the run: {err}") from None

    def _replace(self, index: int) -> None:
        self._ray.kill(self._actors[index], no_restart=True)
        self._actors[index] = self._actor_class.remote(*self._worker_args)
        self._wait_ready([index])
        self.restarts += 1

    def run(
        self, requests: Sequence[ShareRequest], weights: ModelWeights, steps: Sequence[ClientStep]
    ) -> PoolOutcome:
        """Each request's result (None for shares whose actor died twice), and which
        shares were retried and dropped.

        Request `i` goes to actor `i`: one share an actor, so a dead actor holds
        exactly one share to retry.
        """
        if len(requests) > self.size:
            raise ValueError(f"{len(requests)} shares for {self.size} workers")
        weights_ref = self._ray.put(weights)
        steps = tuple(steps)
        results: list[Optional[ShareResult]] = [None] * len(requests)
        retried: list[int] = []
        dropped: list[int] = []
        pending = {}
        for i, request in enumerate(requests):
            ref = self._actors[i].run_share.remote(request, weights_ref, steps)
            pending[ref] = (i, 0)
        while pending:
            (ref,), _ = self._ray.wait(list(pending), num_returns=1)
            i, attempt = pending.pop(ref)
            try:
                results[i] = self._ray.get(ref)
                continue
            except self._ray.exceptions.RayActorError as err:
                logger.warning("Ray worker %d died (%s); starting a new one", i, type(err).__name__)
            self._replace(i)
            if attempt == 0:
                retry = self._actors[i].run_share.remote(requests[i], weights_ref, steps)
                pending[retry] = (i, 1)
                retried.append(i)
            else:
                dropped.append(i)
        return PoolOutcome(results, tuple(sorted(retried)), tuple(sorted(dropped)))

    def close(self) -> None:
        for actor in self._actors:
            self._ray.kill(actor, no_restart=True)
        self._actors = []
