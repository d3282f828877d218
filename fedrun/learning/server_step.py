"""The server half of a round, aggregation then the server update, as one compiled call.

Run eagerly, the aggregator tree and the server optimizer dispatch one small
TensorFlow op at a time from Python; on a small model that dispatch, not the
arithmetic, is most of a round's server time. Where every process of the tree
declares itself `traceable` (sum, mean, clipping, zeroing, DP) and the finalizer is
the optimizer step, both run in one `tf.function`: a graph, not XLA, because XLA
would compile anew for every cohort size and cannot call back into Python (the DP
accountant is Python). Anything else (secure aggregation's protocol, robust
aggregators, user factories that do not declare themselves traceable) stays eager.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import tensorflow as tf

from fedrun.core.placements import AtClients, AtServer
from fedrun.core.processes import AggregationProcess, MeasuredProcess, MeasuredProcessOutput
from fedrun.learning.finalizer import OptimizerFinalizer
from fedrun.models.functional import ModelWeights
from fedrun.runtime.probe import is_dry_run

ServerOutputs = tuple[MeasuredProcessOutput, MeasuredProcessOutput]


class CompiledServerStep:
    """`aggregator.next` then `finalizer.apply` in one `tf.function`.

    Traced once per cohort size (the aggregators see it as a Python number); a
    dry run (a type probe) runs eagerly so that it adds no trace.

    Args:
        aggregator: A traceable aggregation process.
        finalizer: The server optimizer step.
    """

    def __init__(self, aggregator: AggregationProcess, finalizer: OptimizerFinalizer) -> None:
        self.aggregator = aggregator
        self.finalizer = finalizer
        self._compiled = tf.function(self._step)

    def _step(self, *args: Any) -> tuple[Any, ...]:
        """`_eager`'s outputs with placed values unwrapped (a graph returns tensor nests)."""
        aggregated, finalized = self._eager(*args)
        return (
            aggregated.state,
            aggregated.result.value,
            aggregated.measurements,
            finalized.state,
            finalized.result.value,
            finalized.measurements,
        )

    def _eager(
        self,
        aggregator_state: Any,
        finalizer_state: Any,
        weights: ModelWeights,
        update: Any,
        update_weight: Any,
        num_clients: int,
    ) -> ServerOutputs:
        updates = AtClients(update, num_clients)
        if self.aggregator.is_weighted:
            aggregated = self.aggregator.next(
                aggregator_state, updates, AtClients(update_weight, num_clients)
            )
        else:
            aggregated = self.aggregator.next(aggregator_state, updates)
        finalized = self.finalizer.apply(finalizer_state, weights, aggregated.result)
        return aggregated, finalized

    def __call__(
        self,
        aggregator_state: Any,
        finalizer_state: Any,
        weights: ModelWeights,
        updates: AtClients,
        update_weights: Optional[AtClients],
        round_num: int,
    ) -> ServerOutputs:
        """The aggregation's and the finalizer's outputs, as their eager `next`s return them."""
        finalizer_state = self.finalizer.round_state(finalizer_state, round_num)
        weight = () if update_weights is None else update_weights.value
        args = (aggregator_state, finalizer_state, weights, updates.value, weight)
        if is_dry_run():
            return self._eager(*args, updates.num_clients)
        agg_state, result, agg_measurements, fin_state, new_weights, fin_measurements = (
            self._compiled(*args, updates.num_clients)
        )
        return (
            MeasuredProcessOutput(agg_state, AtServer(result), agg_measurements),
            MeasuredProcessOutput(fin_state, AtServer(new_weights), fin_measurements),
        )


def compiled_server_step(
    aggregator: AggregationProcess, finalizer: MeasuredProcess
) -> Optional[Callable[..., ServerOutputs]]:
    """The compiled server step of these blocks, or None when they must run eagerly."""
    if aggregator.traceable and isinstance(finalizer, OptimizerFinalizer):
        return CompiledServerStep(aggregator, finalizer)
    return None
