"""The run's callbacks follow `logger` and `progress`; MLflow's store follows the Hydra job."""

import sys

import pytest
from omegaconf import OmegaConf

from fedrun.app.loggers import flat_params, mlflow_target, run_callbacks
from fedrun.app.schema import validate
from fedrun.cli import compose_config
from fedrun.config.errors import ConfigError
from fedrun.training.callbacks import JsonlCallback, ProgressCallback, TensorBoardCallback
from fedrun.training.csv_logger import CsvCallback
from fedrun.training.logger_config import MlflowLoggerConfig


@pytest.mark.parametrize(
    "overrides, expected",
    [
        ([], [TensorBoardCallback, JsonlCallback, ProgressCallback]),
        (["logger=[csv]", "progress=false"], [JsonlCallback, CsvCallback]),
        (["logger=[]", "progress=lines"], [JsonlCallback, ProgressCallback]),
        (
            ["logger=[tensorboard,csv]", "progress=false"],
            [TensorBoardCallback, JsonlCallback, CsvCallback],
        ),
    ],
    ids=["default", "csv-only", "none", "two"],
)
def test_callbacks_follow_the_logger_list(tmp_path, overrides, expected):
    plain = compose_config(overrides)
    callbacks = run_callbacks(validate(plain).settings, plain, str(tmp_path))
    assert [type(c) for c in callbacks] == expected


def test_logger_keys_are_typed_and_mistypes_named():
    assert (
        validate(compose_config(["logger=[mlflow]"])).settings.logger.mlflow == MlflowLoggerConfig()
    )
    plain = compose_config(["logger=[mlflow]"])
    plain["logger"]["mlflow"]["trackin_uri"] = "x"
    with pytest.raises(
        ConfigError, match=r"logger.mlflow.trackin_uri: unknown key; did you mean 'tracking_uri'\?"
    ):
        validate(plain)


def test_progress_accepts_only_its_modes():
    with pytest.raises(ConfigError, match="progress"):
        validate(compose_config(["progress=bars"]))


def write_hydra_file(run_dir, mode, sweep_dir, experiment=None):
    hydra = {
        "hydra": {
            "mode": mode,
            "sweep": {"dir": str(sweep_dir)},
            "runtime": {"choices": {"experiment": experiment}},
            "overrides": {"task": ["seed=1", "rounds=2"]},
        }
    }
    (run_dir / ".hydra").mkdir(parents=True)
    OmegaConf.save(OmegaConf.create(hydra), run_dir / ".hydra" / "hydra.yaml")


def test_a_multirun_job_tracks_into_its_sweep_directory(tmp_path):
    job = tmp_path / "sweep" / "1"
    write_hydra_file(job, "MULTIRUN", tmp_path / "sweep", experiment="mcmahan17_mnist")
    target = mlflow_target(MlflowLoggerConfig(), {"seed": 1, "preprocess": {"epochs": 1}}, str(job))
    sweep = (tmp_path / "sweep").absolute()
    assert target.tracking_uri == f"sqlite:///{sweep}/mlflow.db"
    assert target.artifact_location == (sweep / "mlartifacts").as_uri()
    assert target.experiment_name == f"mcmahan17_mnist {sweep}" and target.run_name == "1"
    assert (
        target.tags["fedrun.overrides"] == "seed=1 rounds=2"
        and target.tags["fedrun.experiment"] == "mcmahan17_mnist"
    )
    assert target.params == {"seed": "1", "preprocess.epochs": "1"}


def test_a_single_run_tracks_into_its_run_directory_or_a_server(tmp_path):
    write_hydra_file(tmp_path, "RUN", tmp_path / "unused")
    local = mlflow_target(MlflowLoggerConfig(), {}, str(tmp_path))
    assert (
        local.tracking_uri == f"sqlite:///{tmp_path.absolute()}/mlflow.db"
        and local.experiment_name == "fedrun"
    )
    server = mlflow_target(MlflowLoggerConfig("http://127.0.0.1:5000", "mine"), {}, str(tmp_path))
    assert (server.tracking_uri, server.experiment_name, server.artifact_location) == (
        "http://127.0.0.1:5000",
        "mine",
        None,
    )


def test_params_are_every_leaf_as_text():
    assert flat_params({"a": {"b": 1, "c": None}, "d": [1, 2], "e": "x", "f": {}, "g": True}) == {
        "a.b": "1",
        "a.c": "null",
        "d": "[1, 2]",
        "e": "x",
        "f": "{}",
        "g": "true",
    }


def test_a_missing_mlflow_package_is_a_config_error(tmp_path, monkeypatch):
    from fedrun.training.mlflow_logger import MlflowCallback

    monkeypatch.setitem(sys.modules, "mlflow.tracking", None)  # as if not installed
    with pytest.raises(
        ConfigError,
        match=r"logger.mlflow: needs the mlflow package: pip install 'fedrun\[mlflow\]'",
    ):
        MlflowCallback(mlflow_target(MlflowLoggerConfig(), {}, str(tmp_path)), str(tmp_path))
