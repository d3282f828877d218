"""Update attacks applied where the clients' outputs come back from the runtime.

`AttackedRuntime` wraps the runtime that the learning algorithm trains with. After
the inner runtime returns a cohort's stacked `ClientOutputs` (sequential,
vectorized or Ray: the same honest updates for the same seed), it replaces the
Byzantine rows of `outputs.update` with what the attack sends, before any
aggregation: so all runtimes send the same attacked updates, and the aggregator
tree (clipping, DP, robust rules) sees them as a server would. Evaluation and
personalization use the unwrapped runtime: the attack concerns what is sent.

Client-side aggregation steps (`runtime.add_client_step`, secure aggregation's
masking) must see the attacked update, so a wrapped runtime that takes them keeps
them and applies them in the driver after the attack, on the whole cohort, instead
of inside the inner runtime's workers (steps are pure, so the values are the same).

It also records, per round, which clients' updates reach the aggregator and which
of them are Byzantine (`RoundFacts`), for the round's measurements.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np

from fedrun.data.cohort import CohortData
from fedrun.learning.attacks.config import AttackConfig
from fedrun.learning.attacks.updates import attack_updates
from fedrun.models.functional import ModelWeights
from fedrun.runtime.base import Runtime, WrappedRuntime
from fedrun.runtime.client_steps import (
    ClientStep,
    ClientStepContext,
    apply_client_steps,
    supports_client_steps,
)
from fedrun.runtime.protocol import Trainer
from fedrun.runtime.ray_worker import to_numpy, to_tensors
from fedrun.runtime.trainer import ClientOutputs, RoundInputs


@dataclasses.dataclass(frozen=True)
class RoundFacts:
    """Who trained in a round.

    Attributes:
        round_num: The round.
        client_ids: Clients whose updates reach the aggregator, in the order of its values.
        byzantine: bool `[len(client_ids)]`, True for Byzantine clients.
    """

    round_num: int
    client_ids: tuple[str, ...]
    byzantine: np.ndarray


def _finite_rows(leaves: list[np.ndarray]) -> np.ndarray:
    rows = np.ones(len(leaves[0]) if leaves else 0, bool)
    for leaf in leaves:
        rows &= np.isfinite(leaf.reshape(len(leaf), -1)).all(axis=1)
    return rows


class AttackedRuntime(WrappedRuntime):
    """`inner` with the update attack applied to what its clients send.

    Args:
        inner: The configured runtime.
        config: The attack (a data attack leaves updates as they are).
        byzantine: Ids of the Byzantine clients.

    Attributes:
        last_round: `RoundFacts` of the last cohort trained (None before any).
    """

    def __init__(self, inner: Runtime, config: AttackConfig, byzantine: frozenset[str]) -> None:
        super().__init__(inner)
        self.config = config
        self.byzantine = byzantine
        self.last_round: Optional[RoundFacts] = None
        self._steps: list[ClientStep] = []

    def train(
        self, trainer: Trainer, weights: ModelWeights, cohort: CohortData, inputs: RoundInputs
    ) -> ClientOutputs:
        outputs = self.inner.train(trainer, weights, cohort, inputs)
        ids = tuple(cohort.client_ids)
        byzantine = np.array([cid in self.byzantine for cid in ids], bool)
        update = to_numpy(list(outputs.update))
        if self.config.on_updates:
            update = attack_updates(
                self.config, update, byzantine, ids, cohort.round_num, cohort.seed
            )
            outputs = outputs._replace(update=to_tensors(update))
        if self._steps:
            context = ClientStepContext(ids, tuple(range(len(ids))), cohort.round_num, cohort.seed)
            outputs = to_tensors(apply_client_steps(self._steps, to_numpy(outputs), context))
        sent = _finite_rows(update)  # non-finite updates are dropped before aggregation
        self.last_round = RoundFacts(
            cohort.round_num, tuple(c for c, s in zip(ids, sent) if s), byzantine[sent]
        )
        return outputs

    def take_lost_clients(self) -> frozenset[str]:
        lost = self.inner.take_lost_clients()
        if lost and self.last_round is not None:
            facts = self.last_round
            kept = np.array([cid not in lost for cid in facts.client_ids], bool)
            ids = tuple(c for c, k in zip(facts.client_ids, kept) if k)
            self.last_round = dataclasses.replace(
                facts, client_ids=ids, byzantine=facts.byzantine[kept]
            )
        return lost


class AttackedStepRuntime(AttackedRuntime):
    """An `AttackedRuntime` over a runtime that takes client-side steps."""

    def add_client_step(self, step: ClientStep) -> None:
        """Applies `step` after the attack (see the module docstring)."""
        self._steps.append(step)


def attacked_runtime(
    inner: Runtime, config: AttackConfig, byzantine: frozenset[str]
) -> AttackedRuntime:
    """`inner` wrapped; it takes client steps exactly when `inner` does."""
    cls = AttackedStepRuntime if supports_client_steps(inner) else AttackedRuntime
    return cls(inner, config, byzantine)
