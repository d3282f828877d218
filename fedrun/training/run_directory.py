"""The run directory: where every output of a run goes, checked before training."""

from __future__ import annotations

import os

from fedrun.training.atomic import write_atomic

METRICS_FILE = "metrics.jsonl"
SUMMARY_FILE = "summary.json"
TENSORBOARD_DIR = "tb"
CHECKPOINTS_DIR = "checkpoints"


class RunDirectoryError(RuntimeError):
    """The run directory cannot hold the run's outputs.

    Attributes:
        path: The directory.
        problem: Why (the operating system's words).
    """

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"cannot write to the run directory {path}: {problem}")


def prepare_run_directory(path: str) -> None:
    """Creates `path` if needed and proves a file can be written there atomically.

    Raises:
        RunDirectoryError: if not (read-only, not a directory, no space ...),
            before any training starts.
    """
    probe = os.path.join(path, ".fedrun-write-check")
    try:
        os.makedirs(path, exist_ok=True)
        write_atomic(probe, b"ok\n")
        os.unlink(probe)
    except OSError as err:
        raise RunDirectoryError(path, err.strerror or str(err)) from None
