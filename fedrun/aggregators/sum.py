"""`SumFactory`: the plain federated sum (`type: sum`)."""

from __future__ import annotations

from typing import Any

from fedrun.aggregators.factory import UnweightedAggregationFactory
from fedrun.core import intrinsics
from fedrun.core.placements import AtClients
from fedrun.core.processes import AggregationProcess, MeasuredProcessOutput


class SumFactory(UnweightedAggregationFactory):
    """Sums client values at the server.

    State: `()`. Measurements: `()`.
    """

    def create(self, value_spec: Any) -> AggregationProcess:
        def initialize() -> tuple:
            return ()

        def next_fn(state: tuple, value: AtClients) -> MeasuredProcessOutput:
            return MeasuredProcessOutput(state, intrinsics.sum(value), ())

        return AggregationProcess(initialize, next_fn, value_spec, traceable=True)
