"""Client-side steps: per-client work that must happen where a client trained.

Some parts of aggregation belong to the clients, not to the server: secure
aggregation masks each client's quantized update before it leaves the client, so
the server only ever sees masked vectors and their sum (Bonawitz et al. 2017).
Under `runtime=ray` the clients are Ray actors, so such a step must run inside the
actor, on that actor's share of the cohort, before anything is sent to the driver.

A `ClientStep` is that hook. It is a plain Python object (no TensorFlow objects, so
Ray can ship it to actors) whose `apply` maps a share's stacked `ClientOutputs`
(numpy leaves, client axis first) to new outputs. It sees which clients it holds
and where they sit in the whole cohort (`ClientStepContext`), which is what
pairwise masks need: client `i` adds `+PRG(i, j)` for each partner `j > i` and
`-PRG(j, i)` for each `j < i`, seeded from the run's seed and the round, so the
masks cancel only in the sum over the whole cohort.

How a step is wired in: whoever builds the client-side part of aggregation (an
algorithm builder, which holds both the aggregator factory and `context.runtime`)
calls `runtime.add_client_step(step)` when the runtime supports it
(`supports_client_steps(runtime)`); the aggregator's server part then expects
values that the step already transformed. Runtimes apply the registered steps, in
order, right after local training: `RayRuntime` inside its actors; an in-process
runtime calls `apply_client_steps` on its outputs.
"""

from __future__ import annotations

import abc
import dataclasses
from typing import Any, Sequence

from fedrun.runtime.trainer import ClientOutputs


@dataclasses.dataclass(frozen=True)
class ClientStepContext:
    """Where a share of clients sits in the round.

    Attributes:
        cohort_ids: Every client of the round's cohort, in cohort order.
        positions: Positions (into `cohort_ids`) of the clients in this share, in
            the order of the share's stacked outputs.
        round_num: The round (1-based).
        seed: The run's seed.
    """

    cohort_ids: tuple[str, ...]
    positions: tuple[int, ...]
    round_num: int
    seed: int

    @property
    def client_ids(self) -> tuple[str, ...]:
        """The ids of this share's clients."""
        return tuple(self.cohort_ids[p] for p in self.positions)


class ClientStep(abc.ABC):
    """A per-client transformation of training outputs, run where the clients are.

    Implementations must be picklable plain Python and pure: the same outputs and
    context give the same result, whichever process or runtime runs them.
    """

    @abc.abstractmethod
    def apply(self, outputs: ClientOutputs, context: ClientStepContext) -> ClientOutputs:
        """Returns the share's outputs after this step (numpy leaves, client axis first)."""


def supports_client_steps(runtime: Any) -> bool:
    """Whether `runtime` accepts `add_client_step`."""
    return callable(getattr(runtime, "add_client_step", None))


def apply_client_steps(
    steps: Sequence[ClientStep], outputs: ClientOutputs, context: ClientStepContext
) -> ClientOutputs:
    """Runs `steps` in order on a share's outputs."""
    for step in steps:
        outputs = step.apply(outputs, context)
    return outputs
