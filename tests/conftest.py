"""Shared fixtures. TensorFlow is imported once per test session; models and data
that several tests use are built at session scope."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Sequence

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO_ROOT = Path(__file__).resolve().parent.parent


def make_arrays(num_examples: int, shape: Sequence[int] = (6,), num_classes: int = 3, seed: int = 0) -> dict[str, np.ndarray]:
    """Small random classification data `{"x", "y"}`."""
    rng = np.random.default_rng(seed)
    return {
        "x": rng.normal(size=(num_examples, *shape)).astype(np.float32),
        "y": rng.integers(0, num_classes, size=num_examples).astype(np.int32),
    }


def run_fedrun(args: Sequence[str], cwd: Path = REPO_ROOT, timeout: float = 600) -> subprocess.CompletedProcess:
    """Runs `python -m fedrun ARGS` (this checkout's package) and captures output."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "fedrun", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="session", autouse=True)
def partition_cache_dir(tmp_path_factory):
    """Partition caches of the whole session (and of the runs it starts) go to a temporary directory."""
    with pytest.MonkeyPatch.context() as patch:
        path = tmp_path_factory.mktemp("fedrun_cache")
        patch.setenv("FEDRUN_CACHE_DIR", str(path))
        yield path


@pytest.fixture(scope="session")
def tiny_model():
    """A logistic-regression `FunctionalModel` over 6 features and 3 classes."""
    import tensorflow as tf

    from fedrun.models.build import classification_model
    from fedrun.models.builders import ModelInputs, NoParams, logreg

    keras_model = logreg(NoParams(), ModelInputs((6,), "float32", 3))
    spec = {"x": tf.TensorSpec([6], tf.float32), "y": tf.TensorSpec([], tf.int32)}
    return classification_model(keras_model, spec)
