"""`fedrun logger=[tensorboard,mlflow]`: the SQLite store that MlflowClient reads holds
the numbers of metrics.jsonl, after a kill and resume too; a multirun is one experiment."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import REPO_ROOT, run_fedrun
from tests.e2e.test_resume import LAUNCHER, kill_when_paused

pytestmark = pytest.mark.slow

SMALL = [
    "dataset.num_clients=12",
    "clients_per_round=4",
    "eval_clients=4",
    "progress=false",
    "logger=[tensorboard,mlflow]",
]


def jsonl(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def history(client, run_id, key):
    return [(m.step, m.value) for m in client.get_metric_history(run_id, key)]


def test_killed_and_resumed_run_logs_each_round_once_with_the_jsonl_numbers(tmp_path):
    run_dir = tmp_path / "run"
    marker = tmp_path / "paused"
    args = [f"hydra.run.dir={run_dir}", "rounds=6", "checkpoint.every=2", *SMALL]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    # Paused (then SIGKILLed) after round 5's metrics line: MLflow has rounds 1-4, the checkpoint is round 4.
    process = subprocess.Popen(
        [sys.executable, "-c", LAUNCHER, str(marker), "after-round", "5", *args],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    kill_when_paused(process, marker)
    result = run_fedrun(args)
    assert result.returncode == 0, result.stderr

    client = MlflowClient(tracking_uri=f"sqlite:///{run_dir}/mlflow.db")
    [run] = client.search_runs([client.get_experiment_by_name("fedrun").experiment_id])
    records = jsonl(run_dir)
    assert [r["round"] for r in records] == [1, 2, 3, 4, 5, 6]
    for key, path in (
        ("train/accuracy", ("train", "accuracy")),
        ("eval/federated/loss", ("eval", "federated", "loss")),
    ):
        expected = []
        for r in records:
            value = r
            for part in path:
                value = value[part]
            expected.append((r["round"], pytest.approx(value, rel=1e-6)))
        assert history(client, run.info.run_id, key) == expected
    assert run.info.status == "FINISHED"
    assert run.data.params["rounds"] == "6" and run.data.params["preprocess.epochs"] == "5"
    assert "rounds=6" in run.data.tags["fedrun.overrides"]
    summary = json.loads(
        Path(client.download_artifacts(run.info.run_id, "summary.json", str(tmp_path))).read_text()
    )
    assert (
        summary["final_train"] == json.loads((run_dir / "summary.json").read_text())["final_train"]
    )


def test_a_two_job_multirun_is_one_experiment_with_a_run_per_job(tmp_path):
    sweep = tmp_path / "sweep"
    result = run_fedrun(["-m", "seed=0,1", "rounds=2", *SMALL, f"hydra.sweep.dir={sweep}"])
    assert result.returncode == 0, result.stderr
    client = MlflowClient(tracking_uri=f"sqlite:///{sweep}/mlflow.db")
    experiments = [e for e in client.search_experiments() if e.name != "Default"]
    assert [e.name for e in experiments] == [f"fedrun {sweep}"]
    runs = {r.info.run_name: r for r in client.search_runs([experiments[0].experiment_id])}
    assert sorted(runs) == ["0", "1"]
    for job, run in runs.items():
        assert run.data.params["seed"] == job
        final = jsonl(sweep / job)[-1]["train"]["accuracy"]
        assert history(client, run.info.run_id, "train/accuracy")[-1] == (
            2,
            pytest.approx(final, rel=1e-6),
        )
    assert not (sweep / "0" / "mlflow.db").exists()
