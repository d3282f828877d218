"""TFF's `tff.simulation.compose_dataset_computation_with_iterative_process`.

The composed process's `next` takes client ids where the original takes client
datasets; it builds each client's dataset with the dataset computation (in this
process) and calls the original `next` on them.
"""

from __future__ import annotations

from typing import Any

from fedrun.compat.tff.errors import FacadeTypeError
from fedrun.compat.tff.templates import IterativeProcess
from fedrun.core.placements import CLIENTS
from fedrun.core.processes import Computation
from fedrun.core.types import FederatedType, FunctionType, SequenceType, StructType


def _dataset_position(parameter: StructType, element: Any) -> int:
    """The position of the client datasets among next's parameters."""
    for position, member in enumerate(parameter):
        if (
            isinstance(member, FederatedType)
            and member.placement == CLIENTS
            and isinstance(member.member, SequenceType)
        ):
            return position
    raise FacadeTypeError(
        f"compose_dataset_computation_with_iterative_process: next's parameter {parameter} has no "
        f"client datasets (the dataset computation returns {element})"
    )


def compose_dataset_computation_with_iterative_process(
    dataset_computation: Computation, process: Any
) -> IterativeProcess:
    """`process` with its client datasets replaced by client ids.

    Args:
        dataset_computation: A computation `(T -> <element>*)`, e.g.
            `ClientData.dataset_computation` (T = string client ids).
        process: An iterative or learning process whose `next` takes client
            datasets of the type the dataset computation returns.

    Returns:
        An `IterativeProcess` with the same `initialize` and a `next` that takes
        `{T}@CLIENTS` in place of the datasets.
    """
    if not isinstance(dataset_computation, Computation):
        raise FacadeTypeError(
            "compose_dataset_computation_with_iterative_process: dataset_computation must be a "
            f"computation, got {type(dataset_computation).__name__}"
        )
    computation_type = dataset_computation.type_signature
    if computation_type.parameter is None or not isinstance(computation_type.result, SequenceType):
        raise FacadeTypeError(
            "compose_dataset_computation_with_iterative_process: dataset_computation must map a "
            f"client's key to a sequence, its type is {computation_type}"
        )
    next_fn = getattr(process, "next", None)
    initialize = getattr(process, "initialize", None)
    if not isinstance(next_fn, Computation) or not isinstance(initialize, Computation):
        raise FacadeTypeError(
            "compose_dataset_computation_with_iterative_process: process must be an iterative or "
            f"learning process, got {type(process).__name__}"
        )
    parameter = next_fn.type_signature.parameter
    if not isinstance(parameter, StructType):
        raise FacadeTypeError(
            f"compose_dataset_computation_with_iterative_process: next takes {parameter}, not client datasets"
        )
    position = _dataset_position(parameter, computation_type.result)
    names = [name for name, _ in parameter.elements]
    members = list(parameter)
    members[position] = FederatedType(computation_type.parameter, CLIENTS, all_equal=False)
    new_parameter = StructType(list(zip(names, members)))

    def next_from_ids(*args: Any) -> Any:
        arguments = list(args)
        if len(arguments) <= position:
            raise FacadeTypeError(
                f"next takes {len(members)} arguments ({new_parameter}), got {len(arguments)}"
            )
        ids = arguments[position]
        if isinstance(ids, (str, bytes)) or not hasattr(ids, "__iter__"):
            raise FacadeTypeError(f"next: the client ids must be a list, got {type(ids).__name__}")
        arguments[position] = [dataset_computation(i) for i in ids]
        return next_fn(*arguments)

    signature = FunctionType(new_parameter, next_fn.type_signature.result)
    return IterativeProcess(initialize, Computation(next_from_ids, signature, name="next"))


__all__ = ["compose_dataset_computation_with_iterative_process"]
