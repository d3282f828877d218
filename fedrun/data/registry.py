"""The registry of data sets (`dataset: {type: NAME}`).

A builder takes its parameters and the `DataContext` (the run's seed and the
preprocessing config, passed at build time) and returns `FederatedData`.
"""

from __future__ import annotations

import dataclasses

from fedrun.config.registry import Registry
from fedrun.data.client_data import FederatedData
from fedrun.data.preprocess import PreprocessConfig
from fedrun.data.progress import QUIET, DataProgress


@dataclasses.dataclass(frozen=True)
class DataContext:
    """Run-level inputs every data set builder receives.

    Attributes:
        seed: The run's seed (partitions, synthetic data).
        preprocess: The preprocessing config (flattening happens at load).
        progress: Reports long preparation steps (file parsing).
    """

    seed: int
    preprocess: PreprocessConfig
    progress: DataProgress = QUIET


DATASETS: Registry[FederatedData] = Registry("dataset")
