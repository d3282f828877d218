"""The callbacks a run reports through, built from its typed config.

`metrics.jsonl` is always written; `logger` adds TensorBoard, `metrics.csv` and
MLflow; `progress` adds a bar or a line per round. What the loggers need from the
Hydra job (its overrides, whether it is one job of a multirun and that sweep's
directory, the `experiment` chosen) is read from the job's `.hydra/` files in the
run directory; a run started without Hydra has none of them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping

from fedrun.app.schema import RunSettings
from fedrun.training.callbacks import Callback, JsonlCallback, TensorBoardCallback
from fedrun.training.logger_config import MlflowLoggerConfig
from fedrun.training.progress import progress_callback
from fedrun.training.run_directory import METRICS_FILE, TENSORBOARD_DIR

HYDRA_FILE = os.path.join(".hydra", "hydra.yaml")
MLFLOW_DB = "mlflow.db"
MLFLOW_ARTIFACTS = "mlartifacts"


def run_callbacks(config: RunSettings, plain: Mapping[str, Any], output_dir: str) -> list[Callback]:
    """TensorBoard, JSONL, progress, CSV and MLflow callbacks, as `config` asks.

    Args:
        config: The validated run config.
        plain: The same config as plain Python (MLflow's parameters and config artifact).
        output_dir: The run directory.
    """
    from fedrun.training.hparams import HParamsCallback, job_overrides

    loggers = config.logger
    overrides = job_overrides(output_dir)
    callbacks: list[Callback] = []
    tb_dir = os.path.join(output_dir, TENSORBOARD_DIR)
    if loggers.tensorboard is not None:
        callbacks.append(TensorBoardCallback(tb_dir))
    callbacks.append(JsonlCallback(os.path.join(output_dir, METRICS_FILE)))
    progress = progress_callback(config.progress, config.rounds)
    if progress is not None:
        callbacks.append(progress)
    if loggers.csv is not None:
        from fedrun.training.csv_logger import CSV_FILE, CsvCallback

        callbacks.append(CsvCallback(os.path.join(output_dir, CSV_FILE)))
    if loggers.mlflow is not None:
        from fedrun.training.mlflow_logger import MlflowCallback

        callbacks.append(
            MlflowCallback(mlflow_target(loggers.mlflow, plain, output_dir), output_dir)
        )
    if loggers.tensorboard is not None and loggers.tensorboard.hparams and overrides:
        callbacks.append(
            HParamsCallback(tb_dir, overrides)
        )  # a Hydra job: its overrides are its hyperparameters
    return callbacks


def hydra_job(output_dir: str) -> dict[str, Any]:
    """The job's `.hydra/hydra.yaml` (`hydra` node) as plain Python ({} without Hydra)."""
    path = os.path.join(output_dir, HYDRA_FILE)
    if not os.path.exists(path):
        return {}
    from omegaconf import OmegaConf

    return OmegaConf.to_container(OmegaConf.load(path), resolve=False).get("hydra", {})  # type: ignore[union-attr]


def mlflow_target(logger: MlflowLoggerConfig, plain: Mapping[str, Any], output_dir: str) -> Any:
    """Where and as what this run is tracked: a multirun is one experiment, a job one run."""
    from omegaconf import OmegaConf

    from fedrun.training.mlflow_logger import MlflowTarget

    job = hydra_job(output_dir)
    sweep_dir = job.get("sweep", {}).get("dir") if job.get("mode") == "MULTIRUN" else None
    store_dir = Path(sweep_dir or output_dir).absolute()
    experiment = logger.experiment_name
    chosen = job.get("runtime", {}).get("choices", {}).get("experiment") or "fedrun"
    if experiment is None:
        experiment = f"{chosen} {store_dir}" if sweep_dir else chosen
    overrides = [str(o) for o in job.get("overrides", {}).get("task", [])]
    return MlflowTarget(
        tracking_uri=logger.tracking_uri or f"sqlite:///{store_dir / MLFLOW_DB}",
        experiment_name=experiment,
        run_name=Path(output_dir).name,
        artifact_location=None if logger.tracking_uri else (store_dir / MLFLOW_ARTIFACTS).as_uri(),
        params=flat_params(plain),
        tags={
            "fedrun.experiment": chosen,
            "fedrun.overrides": " ".join(overrides),
            "fedrun.run_dir": str(Path(output_dir).absolute()),
        },
        config_yaml=OmegaConf.to_yaml(dict(plain)),
    )


def flat_params(plain: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """`{"preprocess.epochs": "5", "allowed_targets": "[]", ...}`: every leaf of a config, as text."""
    params: dict[str, str] = {}
    for key, value in plain.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping) and value:
            params.update(flat_params(value, name))
        else:
            params[name] = value if isinstance(value, str) else json.dumps(value)
    return params
