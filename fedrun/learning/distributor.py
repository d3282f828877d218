"""The distributor: broadcasts the global model to the cohort."""

from __future__ import annotations

from fedrun.core import intrinsics
from fedrun.core.placements import AtServer
from fedrun.core.processes import MeasuredProcess, MeasuredProcessOutput


def build_broadcast_process() -> MeasuredProcess:
    """Broadcast of the server's weights.

    `next(state, weights: AtServer, num_clients) -> result: AtClients`.
    State: `()`. Measurements: `()`.
    """

    def initialize() -> tuple:
        return ()

    def next_fn(state: tuple, weights: AtServer, num_clients: int) -> MeasuredProcessOutput:
        return MeasuredProcessOutput(state, intrinsics.broadcast(weights, num_clients), ())

    return MeasuredProcess(initialize, next_fn)


__all__ = ["build_broadcast_process"]
