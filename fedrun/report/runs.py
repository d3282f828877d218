"""Reading finished runs: run directories and the sweep directories that hold them.

A run directory is anything with a `metrics.jsonl` (one JSON record a round, as
the training loop writes it); its Hydra overrides (`.hydra/overrides.yaml`) say
what distinguishes it from its siblings, and `summary.json` adds the wall time.
A sweep directory (`multirun/DATE/TIME`) holds run directories at any depth.

Metrics are named by their dotted path in a round record: `train.loss`,
`eval.federated.accuracy`, `eval.centralized.loss`, `round_seconds`, ...; and
`summary.KEY` names a value of the run's `summary.json` (`summary.rounds_to_target`),
which has a final value but no curve.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
from typing import Any, Iterable, Optional, Sequence

import numpy as np

from fedrun.training.hparams import job_overrides

METRICS_FILE = "metrics.jsonl"
SUMMARY_FILE = "summary.json"
# The metric that ranks runs when none is named: the first one the runs have.
DEFAULT_METRICS = (
    "eval.federated.accuracy",
    "eval.centralized.accuracy",
    "train.accuracy",
    "train.loss",
)
_LOWER_IS_BETTER = re.compile(r"(loss|error|seconds|perplexity|epsilon|rounds_to)", re.IGNORECASE)
SUMMARY_PREFIX = "summary."


def lower_is_better(metric: str) -> bool:
    """Whether smaller values of `metric` are better (losses, errors, times)."""
    return bool(_LOWER_IS_BETTER.search(metric))


def _flatten(record: Any, prefix: str = "") -> Iterable[tuple[str, float]]:
    if isinstance(record, dict):
        for key, value in record.items():
            yield from _flatten(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(record, (int, float)) and not isinstance(record, bool):
        yield prefix, float(record)


@dataclasses.dataclass(frozen=True)
class RunResult:
    """One finished (or partial) run.

    Attributes:
        path: The run directory.
        overrides: Its command-line overrides (key -> typed value).
        records: Its round records, in order.
        summary: Its `summary.json` ({} if the run did not finish).
    """

    path: str
    overrides: dict[str, Any]
    records: tuple[dict[str, Any], ...]
    summary: dict[str, Any]

    def series(self, metric: str) -> tuple[np.ndarray, np.ndarray]:
        """Rounds and values of `metric` in the rounds that logged it."""
        rounds, values = [], []
        for record in self.records:
            value = dict(_flatten(record)).get(metric)
            if value is not None and not math.isnan(value):
                rounds.append(int(record["round"]))
                values.append(value)
        return np.asarray(rounds, dtype=np.int64), np.asarray(values, dtype=np.float64)

    def final(self, metric: str) -> Optional[float]:
        """The last logged value of `metric`, or None; `summary.KEY` reads `summary.json`."""
        if metric.startswith(SUMMARY_PREFIX):
            return dict(_flatten(self.summary)).get(metric[len(SUMMARY_PREFIX) :])
        _, values = self.series(metric)
        return float(values[-1]) if len(values) else None

    def metric_names(self) -> list[str]:
        """Every metric some round logged, in first-seen order (`round` excluded),
        then the numbers of the summary as `summary.KEY`."""
        names: dict[str, None] = {}
        for record in self.records:
            names.update((name, None) for name, _ in _flatten(record) if name != "round")
        names.update((SUMMARY_PREFIX + name, None) for name, _ in _flatten(self.summary))
        return list(names)

    @property
    def rounds(self) -> int:
        return int(self.records[-1]["round"]) if self.records else 0


def load_run(path: str) -> RunResult:
    """Reads the run in directory `path`."""
    with open(os.path.join(path, METRICS_FILE), encoding="utf-8") as f:
        records = tuple(json.loads(line) for line in f if line.strip())
    summary: dict[str, Any] = {}
    summary_path = os.path.join(path, SUMMARY_FILE)
    if os.path.exists(summary_path):
        with open(summary_path, encoding="utf-8") as f:
            summary = json.load(f)
    return RunResult(path, job_overrides(path), records, summary)


def _natural_key(name: str) -> list[Any]:
    # Hydra numbers jobs 0, 1, ..., 10: sort them as numbers, not as text.
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def find_runs(paths: Sequence[str]) -> list[RunResult]:
    """Every run directory in `paths` (run directories or sweep directories).

    Raises:
        FileNotFoundError: if a path does not exist or holds no run.
    """
    runs = []
    for path in paths:
        if not os.path.isdir(path):
            raise FileNotFoundError(f"{path}: no such directory")
        found = []
        for directory, subdirs, files in os.walk(path):
            subdirs[:] = sorted((d for d in subdirs if not d.startswith(".")), key=_natural_key)
            if METRICS_FILE in files:
                found.append(load_run(directory))
                subdirs[:] = []
        if not found:
            raise FileNotFoundError(
                f"{path}: no run directory (a directory with {METRICS_FILE}) inside"
            )
        runs += found
    return runs


def default_metric(runs: Sequence[RunResult]) -> str:
    """The first of `DEFAULT_METRICS` that some run logged."""
    present = {name for run in runs for name in run.metric_names()}
    for metric in DEFAULT_METRICS:
        if metric in present:
            return metric
    raise ValueError(
        f"the runs log none of {', '.join(DEFAULT_METRICS)}; name a metric with --metric"
    )
