"""`fedrun-data`: the same composed config as `fedrun`, described into the run directory."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from fedrun.data.idx import write_idx
from tests.conftest import REPO_ROOT


def run_fedrun_data(args):
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "fedrun.data_cli", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def fashion_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("fashion")
    rng = np.random.default_rng(0)
    for split, n in (("train", 60), ("t10k", 20)):
        write_idx(
            str(directory / f"{split}-images-idx3-ubyte.gz"),
            rng.integers(0, 256, (n, 28, 28), dtype=np.uint8),
        )
        write_idx(
            str(directory / f"{split}-labels-idx1-ubyte.gz"), (np.arange(n) % 10).astype(np.uint8)
        )
    return directory


@pytest.mark.slow
def test_describes_the_configured_data(fashion_dir, tmp_path):
    result = run_fedrun_data(
        [
            f"hydra.run.dir={tmp_path}",
            "dataset=fashion_mnist",
            f"dataset.path={fashion_dir}",
            "dataset.num_clients=5",
            "dataset.central_test_size=10",
            "dataset.partition.min_size=2",
        ]
    )
    assert result.returncode == 0, result.stderr
    assert "train: 5 clients" in result.stdout and "central test: 10 examples" in result.stdout
    summary = json.loads((tmp_path / "data_summary.json").read_text())
    assert summary["name"] == "fashion_mnist" and summary["train"]["clients"] == 5
    assert sum(summary["train"]["label_histogram"]) + sum(summary["test"]["label_histogram"]) == 70
    assert (tmp_path / "clients.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
@pytest.mark.parametrize(
    "override, expected",
    [
        ("dataset.path=/nonexistent/fashion", "/nonexistent/fashion"),
        ("+describe.max_clients=0", "describe.max_clients"),
    ],
    ids=["missing-data", "bad-describe-option"],
)
def test_bad_input_exits_with_message(tmp_path, override, expected):
    result = run_fedrun_data([f"hydra.run.dir={tmp_path}", "dataset=fashion_mnist", override])
    assert result.returncode == 2 and expected in result.stderr and "Traceback" not in result.stderr
