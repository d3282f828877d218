"""TFF names fedrun cannot honour, each failing with the fedrun way instead.

fedrun runs every computation eagerly in the calling Python process, so TFF's
execution contexts, executors, remote workers and program platform have no
counterpart; the errors say what to do instead.
"""

from __future__ import annotations

from typing import Mapping

_GUIDE = "see docs/migrating-from-tff.md"


class UnsupportedError(NotImplementedError):
    """A TFF feature the fedrun facade does not provide."""


_IN_PROCESS = (
    "fedrun runs computations in this Python process; there is no execution context to set, so remove "
    "this call. To spread client work over cores or machines, choose a fedrun runtime "
    "(`runtime: {type: ...}` in the config, or `runtime=` of fedrun's learning builders)"
)

TOP_LEVEL: Mapping[str, str] = {
    "backends": _IN_PROCESS,
    "framework": "TFF's framework internals (executors, compiler, contexts) have no fedrun counterpart; "
    + _IN_PROCESS,
    "program": "TFF's program platform is not provided; fedrun's training loop (`python -m fedrun`) writes metrics.jsonl, "
    "TensorBoard logs and checkpoints in the run directory",
    "analytics": "federated analytics is not provided by fedrun",
    "set_remote_python_execution_context": _IN_PROCESS,
    "federated_eval": "write the work as tff.federated_map over a tff.tf_computation",
    "federated_aggregate": "use tff.federated_sum / tff.federated_mean, or an aggregation factory (tff.aggregators)",
    "federated_collect": "fedrun collects client values only inside aggregators that need them (fedrun.core.intrinsics.collect)",
    "federated_select": "not provided; give each client its data directly",
    "sequence_map": "sequences are consumed by fedrun's local trainer; write per-client work on tensors",
    "sequence_reduce": "sequences are consumed by fedrun's local trainer; write per-client work on tensors",
    "sequence_sum": "sequences are consumed by fedrun's local trainer; write per-client work on tensors",
}

LEARNING: Mapping[str, str] = {
    "build_federated_averaging_process": "use tff.learning.algorithms.build_weighted_fed_avg (model_aggregator= replaces "
    "model_update_aggregation_factory=)",
    "build_federated_evaluation": "use tff.learning.algorithms.build_fed_eval",
    "from_keras_model": "use tff.learning.models.from_keras_model",
}


def error(module: str, name: str, table: Mapping[str, str]) -> Exception:
    """The error for `module.name`: `UnsupportedError` if TFF has the name, else AttributeError."""
    if name in table:
        return UnsupportedError(
            f"{module}.{name} is not supported by fedrun: {table[name]} ({_GUIDE})"
        )
    return AttributeError(
        f"{module} has no attribute {name!r} (the names fedrun provides are listed in {_GUIDE})"
    )


__all__ = ["LEARNING", "TOP_LEVEL", "UnsupportedError", "error"]
