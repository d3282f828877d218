"""Placements, intrinsics, processes and types: the federated core."""

from fedrun.core import intrinsics
from fedrun.core.placements import CLIENTS, SERVER, AtClients, AtServer, Placement
from fedrun.core.processes import (
    AggregationProcess,
    Computation,
    IterativeProcess,
    MeasuredProcess,
    MeasuredProcessOutput,
    type_summary,
)
from fedrun.core.types import (
    FederatedType,
    FunctionType,
    SequenceType,
    StructType,
    TensorType,
    to_type,
)

__all__ = [
    "AggregationProcess",
    "AtClients",
    "AtServer",
    "CLIENTS",
    "Computation",
    "FederatedType",
    "FunctionType",
    "IterativeProcess",
    "MeasuredProcess",
    "MeasuredProcessOutput",
    "Placement",
    "SERVER",
    "SequenceType",
    "StructType",
    "TensorType",
    "intrinsics",
    "to_type",
    "type_summary",
]
