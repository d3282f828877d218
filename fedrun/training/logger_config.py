"""The `logger` block: which loggers a run writes to, besides `metrics.jsonl`.

`conf/logger/*.yaml` are its options, composed as a list (`logger=[tensorboard,mlflow]`);
each sets its own key under `logger`, and a key left out turns that logger off.
"""

from __future__ import annotations

import dataclasses
from typing import Optional


@dataclasses.dataclass(frozen=True)
class TensorBoardLoggerConfig:
    """`logger.tensorboard`: scalars under `tb/` every round.

    Attributes:
        hparams: Write a Hydra job's overrides and final metrics as TensorBoard HParams.
    """

    hparams: bool = True


@dataclasses.dataclass(frozen=True)
class CsvLoggerConfig:
    """`logger.csv`: `metrics.csv`, a row per round and a column per flattened metric."""


@dataclasses.dataclass(frozen=True)
class MlflowLoggerConfig:
    """`logger.mlflow`: an MLflow run per fedrun run.

    Attributes:
        tracking_uri: An MLflow tracking server or store; null is a SQLite store,
            `mlflow.db` in the run directory (a multirun's sweep directory).
        experiment_name: The MLflow experiment; null is the fedrun experiment's
            name (`fedrun` without one), followed by the sweep directory in a multirun.
    """

    tracking_uri: Optional[str] = None
    experiment_name: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class LoggerConfig:
    """The loggers of a run (null: off).

    Attributes:
        tensorboard: TensorBoard scalars and HParams.
        csv: `metrics.csv`.
        mlflow: MLflow tracking.
    """

    tensorboard: Optional[TensorBoardLoggerConfig] = None
    csv: Optional[CsvLoggerConfig] = None
    mlflow: Optional[MlflowLoggerConfig] = None
