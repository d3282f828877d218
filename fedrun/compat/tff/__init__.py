"""TensorFlow Federated's Python API on fedrun: `import fedrun.compat.tff as tff`.

A facade, not a second engine: every name maps onto fedrun's placements
(`fedrun.core.placements`), intrinsics, processes, types, aggregation factories and
learning algorithms. Computations run eagerly in this process on fedrun's placed
values; their `type_signature`s print as TFF prints them. Names TFF has and fedrun
cannot honour raise `UnsupportedError` naming the fedrun way (see
`docs/migrating-from-tff.md`).
"""

from fedrun.compat.tff import (
    aggregators,
    backends,
    learning,
    simulation,
    templates,
    tensorflow,
    types,
)
from fedrun.compat.tff.computations import federated_computation, tf_computation
from fedrun.compat.tff.intrinsics import (
    federated_broadcast,
    federated_eval,
    federated_map,
    federated_max,
    federated_mean,
    federated_min,
    federated_secure_sum_bitwidth,
    federated_sum,
    federated_value,
    federated_zip,
    sequence_reduce,
)
from fedrun.compat.tff.select import federated_select
from fedrun.compat.tff.types import (
    FederatedType,
    FunctionType,
    SequenceType,
    StructType,
    TensorType,
    to_type,
    type_at_clients,
    type_at_server,
)
from fedrun.compat.tff.unsupported import TOP_LEVEL, UnsupportedError, error
from fedrun.compat.tff.values import Value
from fedrun.core.placements import CLIENTS, SERVER
from fedrun.core.processes import Computation

# The TFF release whose API the facade follows (programs print `tff.__version__`).
__version__ = "0.87.0"


def __getattr__(name: str) -> object:
    raise error("tff", name, TOP_LEVEL)


__all__ = [
    "CLIENTS",
    "Computation",
    "FederatedType",
    "FunctionType",
    "SERVER",
    "SequenceType",
    "StructType",
    "TensorType",
    "UnsupportedError",
    "Value",
    "aggregators",
    "backends",
    "federated_broadcast",
    "federated_computation",
    "federated_eval",
    "federated_map",
    "federated_max",
    "federated_mean",
    "federated_min",
    "federated_secure_sum_bitwidth",
    "federated_select",
    "federated_sum",
    "federated_value",
    "federated_zip",
    "learning",
    "sequence_reduce",
    "simulation",
    "templates",
    "tensorflow",
    "tf_computation",
    "to_type",
    "type_at_clients",
    "type_at_server",
    "types",
]
