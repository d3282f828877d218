"""MLflow logging read back through MlflowClient from the SQLite store, also across a resume."""

import json

import pytest
from mlflow.tracking import MlflowClient

from fedrun.training.mlflow_logger import RUN_FILE, MlflowCallback, MlflowTarget, metric_values

pytestmark = pytest.mark.slow  # creating a SQLite store runs MLflow's schema migrations (seconds)


def target(tmp_path, **changes):
    values = dict(
        tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
        experiment_name="sweep",
        run_name="0",
        artifact_location=(tmp_path / "mlartifacts").as_uri(),
        params={"rounds": "3", "preprocess.epochs": "1"},
        tags={"fedrun.overrides": "rounds=3"},
        config_yaml="rounds: 3\n",
    )
    return MlflowTarget(**{**values, **changes})


def record(round_num):
    return {
        "round": round_num,
        "train": {"accuracy": round_num / 10, "loss": 1.0 / round_num},
        "round_seconds": 0.5,
    }


def history(client, run_id, key):
    return [(m.step, m.value) for m in client.get_metric_history(run_id, key)]


def test_a_killed_run_resumes_into_the_same_mlflow_run_without_duplicate_steps(tmp_path):
    first = MlflowCallback(target(tmp_path), str(tmp_path))
    first.on_train_begin(1)
    for k in (1, 2, 3):
        first.on_round_end(record(k))
    # killed after round 3, last checkpoint at round 2: the re-run starts at round 3
    resumed = MlflowCallback(target(tmp_path), str(tmp_path))
    resumed.on_train_begin(3)
    for k in (3, 4):
        resumed.on_round_end(record(k))
    resumed.on_train_end({"rounds": 4})

    assert resumed.run_id == first.run_id == json.loads((tmp_path / RUN_FILE).read_text())["run_id"]
    client = MlflowClient(tracking_uri=target(tmp_path).tracking_uri)
    assert history(client, first.run_id, "train/accuracy") == [
        (k, pytest.approx(k / 10)) for k in (1, 2, 3, 4)
    ]
    run = client.get_run(first.run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "0"
    assert run.data.params == {"rounds": "3", "preprocess.epochs": "1"}
    assert run.data.tags["fedrun.overrides"] == "rounds=3"
    assert sorted(a.path for a in client.list_artifacts(first.run_id)) == [
        "config.yaml",
        "summary.json",
    ]
    experiment = client.get_experiment(run.info.experiment_id)
    assert (
        experiment.name == "sweep"
        and experiment.artifact_location == (tmp_path / "mlartifacts").as_uri()
    )


def test_jobs_of_a_sweep_share_one_experiment(tmp_path):
    run_ids = []
    for job in ("0", "1"):
        job_dir = tmp_path / job
        job_dir.mkdir()
        callback = MlflowCallback(target(tmp_path, run_name=job), str(job_dir))
        callback.on_train_begin(1)
        callback.on_round_end(record(1))
        callback.on_train_end({})
        run_ids.append(callback.run_id)
    client = MlflowClient(tracking_uri=target(tmp_path).tracking_uri)
    experiment = client.get_experiment_by_name("sweep")
    runs = client.search_runs([experiment.experiment_id])
    assert sorted(r.info.run_id for r in runs) == sorted(run_ids) and len(set(run_ids)) == 2


def test_metric_names_are_the_record_paths():
    assert metric_values(
        {"round": 2, "train": {"loss": 0.5}, "eval": {"federated": {"accuracy": 0.75}}, "ok": True}
    ) == [("train/loss", 0.5), ("eval/federated/accuracy", 0.75)]
