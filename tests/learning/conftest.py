"""Tiny problems shared by the numeric algorithm tests."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from fedrun.data.client_data import ArrayClientData
from fedrun.data.cohort import CohortData, build_cohort
from fedrun.data.preprocess import PreprocessConfig
from fedrun.models.functional import ModelWeights
from fedrun.runtime.local import SequentialRuntime, VectorizedRuntime
from tests.conftest import make_arrays

CLIENT_INDICES = {"a": np.arange(5), "b": np.arange(5, 8), "c": np.arange(8, 12)}
RUNTIMES = [SequentialRuntime(), VectorizedRuntime()]
RUNTIME_IDS = ["sequential", "vectorized"]


@dataclasses.dataclass(frozen=True)
class TinyProblem:
    """Twelve examples of 6 features and 3 classes held by clients a, b, c."""

    arrays: dict
    data: ArrayClientData
    w0: np.ndarray
    b0: np.ndarray

    def client(self, cid: str) -> tuple[np.ndarray, np.ndarray]:
        idx = CLIENT_INDICES[cid]
        return self.arrays["x"][idx].astype(np.float64), self.arrays["y"][idx]

    def cohort(self, ids: list[str], epochs: int, batch: int, round_num: int = 1) -> CohortData:
        config = PreprocessConfig(epochs=epochs, batch_size=batch, shuffle_buffer=0, flatten=False)
        return build_cohort(self.data, ids, config, seed=0, round_num=round_num)

    def weights(self) -> ModelWeights:
        return ModelWeights([tf.constant(self.w0), tf.constant(self.b0)], [])


@pytest.fixture(scope="session")
def tiny_problem() -> TinyProblem:
    arrays = make_arrays(12, seed=3)
    rng = np.random.default_rng(7)
    w0 = (rng.normal(size=(6, 3)) * 0.3).astype(np.float32)
    b0 = (rng.normal(size=(3,)) * 0.3).astype(np.float32)
    return TinyProblem(arrays, ArrayClientData(arrays, CLIENT_INDICES), w0, b0)
