"""MLflow tracking: one MLflow run per fedrun run, metrics per round with `step=round`.

The run's parameters are the flattened resolved config, its tags the fedrun
experiment and the command-line overrides; at the end `summary.json` and the
config are logged as artifacts and the run is marked finished. The MLflow run id
is kept in the run directory (`mlflow_run.json`), so a resumed run continues the
same MLflow run; rounds the killed process had already logged are not logged
again (MLflow keeps every value logged at a step, so a re-run round would
appear twice; fedrun's rounds are deterministic, so the values logged first are
the values the re-run computes, all but `round_seconds`).

`mlflow` is an optional extra (`pip install 'fedrun[mlflow]'`); it is imported
only when this logger is chosen.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from typing import Any, Mapping, Optional

from fedrun.config.errors import ConfigError
from fedrun.training.atomic import write_atomic
from fedrun.training.callbacks import Callback, Record
from fedrun.training.metrics import flatten

RUN_FILE = "mlflow_run.json"
STEP_KEY = "round_seconds"  # logged every round: its last step is the last round logged
# MLflow's limits on one log_batch call and on a parameter's value.
MAX_PARAMS_PER_BATCH = 100
MAX_METRICS_PER_BATCH = 1000
MAX_PARAM_LENGTH = 6000


@dataclasses.dataclass(frozen=True)
class MlflowTarget:
    """Where and as what a run is tracked.

    Attributes:
        tracking_uri: The tracking store (`sqlite:///.../mlflow.db`) or server.
        experiment_name: The MLflow experiment (one per sweep).
        run_name: The MLflow run's name.
        artifact_location: Where a new experiment keeps artifacts (None: the
            server's default).
        params: The flattened resolved config.
        tags: Tags of the run.
        config_yaml: The resolved config, logged as `config.yaml`.
    """

    tracking_uri: str
    experiment_name: str
    run_name: str
    artifact_location: Optional[str]
    params: Mapping[str, str]
    tags: Mapping[str, str]
    config_yaml: str


def metric_values(record: Record) -> list[tuple[str, float]]:
    """A round record's scalars under `/`-joined names (`train/loss`, `eval/federated/accuracy`)."""
    return list(flatten({k: v for k, v in record.items() if k != "round"}))


class MlflowCallback(Callback):
    """Logs a run to MLflow.

    Args:
        target: Where and as what.
        run_dir: The fedrun run directory (holds `mlflow_run.json`).

    Raises:
        ConfigError: at `logger.mlflow` when the mlflow package is not installed.
    """

    def __init__(self, target: MlflowTarget, run_dir: str) -> None:
        try:
            from mlflow.tracking import MlflowClient
        except ImportError:
            raise ConfigError(
                "logger.mlflow", "needs the mlflow package: pip install 'fedrun[mlflow]'"
            ) from None
        for name in ("alembic", "mlflow"):  # the store's schema migrations log at INFO
            logging.getLogger(name).setLevel(logging.WARNING)
        self.target = target
        self._run_file = os.path.join(run_dir, RUN_FILE)
        self._client = MlflowClient(tracking_uri=target.tracking_uri)
        self.run_id = ""
        self._last_logged = 0

    def on_train_begin(self, start_round: int) -> None:
        from mlflow.entities import Param

        self.run_id = self._existing_run() or ""
        if self.run_id:
            self._client.update_run(self.run_id, status="RUNNING")
            history = self._client.get_metric_history(self.run_id, STEP_KEY)
            self._last_logged = max((m.step for m in history), default=0)
            return
        run = self._client.create_run(
            self._experiment_id(), tags=dict(self.target.tags), run_name=self.target.run_name
        )
        self.run_id = run.info.run_id
        write_atomic(
            self._run_file,
            json.dumps({"tracking_uri": self.target.tracking_uri, "run_id": self.run_id}).encode(),
        )
        params = [Param(k, v[:MAX_PARAM_LENGTH]) for k, v in self.target.params.items()]
        for i in range(0, len(params), MAX_PARAMS_PER_BATCH):
            self._client.log_batch(self.run_id, params=params[i : i + MAX_PARAMS_PER_BATCH])

    def _existing_run(self) -> Optional[str]:
        """The run id this run directory logged to before, if it is in this store."""
        if not os.path.exists(self._run_file):
            return None
        with open(self._run_file, encoding="utf-8") as f:
            saved = json.load(f)
        return saved["run_id"] if saved.get("tracking_uri") == self.target.tracking_uri else None

    def _experiment_id(self) -> str:
        experiment = self._client.get_experiment_by_name(self.target.experiment_name)
        if experiment is not None:
            return experiment.experiment_id
        from mlflow.exceptions import MlflowException

        try:
            return self._client.create_experiment(
                self.target.experiment_name, artifact_location=self.target.artifact_location
            )
        except MlflowException:  # another job of the sweep created it first
            experiment = self._client.get_experiment_by_name(self.target.experiment_name)
            if experiment is None:
                raise
            return experiment.experiment_id

    def on_round_end(self, record: Record) -> None:
        from mlflow.entities import Metric

        step = record["round"]
        if step <= self._last_logged:
            return
        now = int(time.time() * 1000)
        metrics = [Metric(name, value, now, step) for name, value in metric_values(record)]
        for i in range(0, len(metrics), MAX_METRICS_PER_BATCH):
            self._client.log_batch(self.run_id, metrics=metrics[i : i + MAX_METRICS_PER_BATCH])
        self._last_logged = step

    def on_train_end(self, summary: Mapping[str, Any]) -> None:
        self._client.log_text(self.run_id, json.dumps(summary, indent=2), "summary.json")
        self._client.log_text(self.run_id, self.target.config_yaml, "config.yaml")
        self._client.set_terminated(self.run_id)
