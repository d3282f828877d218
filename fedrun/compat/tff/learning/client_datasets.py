"""A round's client datasets (a list of `tf.data.Dataset`s) as fedrun's `CohortData`.

TFF programs hand each round a list with one dataset per client, already
preprocessed and batched by the user's pipeline. fedrun trains from a `CohortData`:
a pool of examples plus, per client, the batch schedule as pool positions and a
mask. The conversion keeps the user's batches exactly as the pipeline produced
them (their shuffle, their batch sizes; a batch shorter than the longest is padded
with mask 0), so metric semantics (`num_examples`, `num_batches`) are TFF's.

Reading a `tf.data` pipeline costs far more than a fedrun round, and TFF itself
rebuilds each dataset from its serialized graph every round, so a pipeline whose
every random choice is seeded yields the same batches each round. Such a
*replayable* dataset object is therefore read once, and every process that is
handed it (training, evaluation) reuses those batches for as long as the object
lives; a pipeline with unseeded randomness or Python code is read again every
round, giving a fresh order each time as TFF would.
"""

from __future__ import annotations

import collections
import dataclasses
import weakref
from typing import Any, Optional, Sequence

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import graph_pb2, op_def_pb2
from tensorflow.python.framework import op_def_registry, tensor_util

from fedrun.compat.tff.errors import FacadeTypeError
from fedrun.data.cohort import CohortData
from fedrun.data.errors import DataError

_PYTHON_OPS = {"PyFunc", "PyFuncStateless", "EagerPyFunc"}


def _seed_values(
    node: Any, consts: dict[str, Any], op_def: op_def_pb2.OpDef
) -> Optional[list[Any]]:
    """The values of the `seed`/`seed2` inputs of a node, None if it has none."""
    names = [arg.name for arg in op_def.input_arg]
    if "seed" not in names or "seed2" not in names:
        return None
    return [
        consts.get(node.input[names.index(n)].split(":")[0].lstrip("^")) for n in ("seed", "seed2")
    ]


def _is_unseeded(node: Any, consts: dict[str, Any]) -> bool:
    if node.op in _PYTHON_OPS or node.op.startswith("Stateful") or node.op.startswith("Rng"):
        return True
    if "seed" in node.attr and "seed2" in node.attr:
        return node.attr["seed"].i == 0 and node.attr["seed2"].i == 0
    op_def = op_def_registry.get(node.op)
    if op_def is None:
        return False
    seeds = _seed_values(node, consts, op_def)
    if seeds is None:
        # A seed generator without explicit seeds draws fresh randomness each time.
        return any(arg.name == "seed_generator" for arg in op_def.input_arg)
    return any(s is None for s in seeds) or all(int(s) == 0 for s in seeds)


def _constants(nodes: Sequence[Any]) -> dict[str, Any]:
    consts = {}
    for node in nodes:
        if node.op == "Const" and node.attr["dtype"].type in (
            tf.int32.as_datatype_enum,
            tf.int64.as_datatype_enum,
        ):
            consts[node.name] = tensor_util.MakeNdarray(node.attr["value"].tensor)
    return consts


def is_replayable(dataset: tf.data.Dataset) -> bool:
    """Whether every iteration of a freshly built `dataset` yields the same elements:
    no Python functions, stateful random ops, or random choices without a seed."""
    try:
        serialized = dataset._as_serialized_graph(  # noqa: SLF001  (no public accessor exists)
            external_state_policy=tf.data.experimental.ExternalStatePolicy.IGNORE
        )
    except (tf.errors.OpError, ValueError, TypeError):
        return False
    graph = graph_pb2.GraphDef()
    graph.ParseFromString(serialized.numpy())
    scopes = [list(graph.node)] + [list(f.node_def) for f in graph.library.function]
    for nodes in scopes:
        consts = _constants(nodes)
        if any(_is_unseeded(node, consts) for node in nodes):
            return False
    return True


@dataclasses.dataclass(frozen=True)
class ClientBatches:
    """One client's batches: their examples concatenated, and each batch's size."""

    examples: dict[str, np.ndarray]
    sizes: np.ndarray


def _as_xy(element: Any, position: int) -> dict[str, Any]:
    if isinstance(element, collections.abc.Mapping):
        if "x" not in element or "y" not in element:
            raise DataError(
                f"client_data[{position}]",
                f"batches must have keys 'x' and 'y', got {list(element)}",
            )
        return {"x": element["x"], "y": element["y"]}
    if isinstance(element, (tuple, list)) and len(element) == 2:
        return {"x": element[0], "y": element[1]}
    raise DataError(
        f"client_data[{position}]",
        f"batches must be {{'x', 'y'}} mappings or (x, y) pairs, got {type(element).__name__}",
    )


def _check(array: np.ndarray, key: str, spec: tf.TensorSpec, position: int) -> None:
    if array.dtype != spec.dtype.as_numpy_dtype or not spec.shape.is_compatible_with(
        array.shape[1:]
    ):
        raise DataError(
            f"client_data[{position}]",
            f"batch '{key}' of dtype {array.dtype} and shape {list(array.shape)} does not fit the model's input "
            f"{spec.dtype.name}{[None] + spec.shape.as_list()}",
        )


def read_batches(
    dataset: tf.data.Dataset, spec: dict[str, tf.TensorSpec], position: int
) -> ClientBatches:
    """Iterates `dataset` once and checks its batches against the model's example spec."""
    parts: dict[str, list[np.ndarray]] = {key: [] for key in spec}
    sizes = []
    for element in dataset:
        batch = _as_xy(element, position)
        arrays = {key: np.asarray(batch[key]) for key in spec}
        if len({len(a) for a in arrays.values()}) != 1:
            raise DataError(
                f"client_data[{position}]", "a batch's 'x' and 'y' have different lengths"
            )
        for key, array in arrays.items():
            _check(array, key, spec[key], position)
            parts[key].append(array)
        sizes.append(len(arrays["x"]))
    examples = {
        key: np.concatenate(chunks)
        if chunks
        else np.zeros([0] + spec[key].shape.as_list(), spec[key].dtype.as_numpy_dtype)
        for key, chunks in parts.items()
    }
    return ClientBatches(examples, np.asarray(sizes, dtype=np.int64))


# Reads of replayable datasets, shared by every process handed the same dataset object.
_READS: "weakref.WeakKeyDictionary[tf.data.Dataset, ClientBatches]" = weakref.WeakKeyDictionary()


def assemble(clients: Sequence[ClientBatches], round_num: int) -> CohortData:
    """The cohort whose client `k` steps through `clients[k]`'s batches in order."""
    max_steps = max((len(c.sizes) for c in clients), default=0)
    width = max((int(c.sizes.max()) for c in clients if len(c.sizes)), default=1)
    index = np.zeros((len(clients), max_steps, width), dtype=np.int64)
    mask = np.zeros((len(clients), max_steps, width), dtype=np.float32)
    slot = np.arange(width)
    offset = 0
    for k, client in enumerate(clients):
        steps = len(client.sizes)
        starts = offset + np.cumsum(client.sizes) - client.sizes
        real = slot[None, :] < client.sizes[:, None]
        index[k, :steps] = np.where(real, starts[:, None] + slot[None, :], 0)
        mask[k, :steps] = real
        offset += int(client.sizes.sum())
    keys = list(clients[0].examples) if clients else []
    pool = {key: tf.constant(np.concatenate([c.examples[key] for c in clients])) for key in keys}
    ids = tuple(f"client_{k}" for k in range(len(clients)))
    return CohortData(ids, pool, tf.constant(index), tf.constant(mask), round_num)


class DatasetCohorts:
    """Converts rounds of client datasets for one model, reusing replayable reads.

    Args:
        spec: The model's per-example `{"x", "y"}` spec.
    """

    def __init__(self, spec: dict[str, tf.TensorSpec]) -> None:
        self.spec = spec
        self._last: Optional[tuple[list[weakref.ref], CohortData]] = None

    def _batches(self, dataset: tf.data.Dataset, position: int) -> ClientBatches:
        cached = _READS.get(dataset)
        if cached is not None:
            for key, s in self.spec.items():
                _check(cached.examples[key], key, s, position)
            return cached
        batches = read_batches(dataset, self.spec, position)
        if is_replayable(dataset):
            _READS[dataset] = batches
        return batches

    def _is_last(self, datasets: list[tf.data.Dataset]) -> bool:
        refs = self._last[0] if self._last is not None else []
        return len(refs) == len(datasets) and all(ref() is d for ref, d in zip(refs, datasets))

    def cohort(self, client_data: Any, round_num: int) -> CohortData:
        """The `CohortData` of a round (a fedrun `CohortData` passes through)."""
        if isinstance(client_data, CohortData):
            return client_data
        datasets = list(client_data)
        for position, dataset in enumerate(datasets):
            if not isinstance(dataset, tf.data.Dataset):
                raise FacadeTypeError(
                    f"client_data[{position}] is a {type(dataset).__name__}; pass one tf.data.Dataset per client"
                )
        if self._last is not None and self._is_last(datasets):
            return dataclasses.replace(self._last[1], round_num=round_num)
        cohort = assemble([self._batches(d, k) for k, d in enumerate(datasets)], round_num)
        if all(d in _READS for d in datasets):
            self._last = ([weakref.ref(d) for d in datasets], cohort)
        return cohort


__all__ = ["ClientBatches", "DatasetCohorts", "assemble", "is_replayable", "read_batches"]
