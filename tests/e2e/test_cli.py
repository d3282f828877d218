"""The Hydra entry point end to end: outputs in the run directory, TensorBoard
event files readable, bad input refused before training."""

import json

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.util.tensor_util import make_ndarray

from tests.conftest import run_fedrun


def scalars(run_dir, run):
    acc = EventAccumulator(str(run_dir / "tb" / run), size_guidance={"tensors": 0})
    acc.Reload()
    return {
        tag: [float(make_ndarray(e.tensor_proto)) for e in acc.Tensors(tag)]
        for tag in acc.Tags()["tensors"]
    }


@pytest.fixture(scope="module")
def two_round_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run")
    result = run_fedrun(
        [f"hydra.run.dir={run_dir}", "rounds=2", "progress=false", "dataset.num_clients=20"]
    )
    assert result.returncode == 0, result.stderr
    return run_dir, result


def test_writes_run_outputs(two_round_run):
    run_dir, result = two_round_run
    assert (run_dir / ".hydra" / "config.yaml").exists()
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["round"] for r in records] == [1, 2]
    for record in records:
        assert set(record) >= {"round", "train", "eval", "aggregator", "finalizer", "round_seconds"}
        assert set(record["train"]) == {"accuracy", "loss", "num_examples", "num_batches"}
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["rounds"] == 2
    assert "TensorBoard logs" in result.stdout and str(run_dir / "tb") in result.stdout


def test_tensorboard_has_train_and_eval_scalars_every_round(two_round_run):
    run_dir, _ = two_round_run
    train = scalars(run_dir, "train")
    evaluation = scalars(run_dir, "eval")
    assert len(train["loss"]) == 2 and len(train["accuracy"]) == 2
    assert len(evaluation["accuracy"]) == 2
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert train["loss"] == pytest.approx([r["train"]["loss"] for r in records], rel=1e-6)


@pytest.mark.parametrize(
    "override, expected",
    [
        ("model=nope", "Could not find 'model/nope'"),
        ("clients_per_round=1000", "clients_per_round"),
        ("preprocess.batch_size=0", "preprocess.batch_size"),
        ("preprocess.epochs=-1", "preprocess.epochs"),
        ("dataset.path=/nonexistent/mnist.csv.gz", "/nonexistent/mnist.csv.gz"),
        ("model.type=resnet9000", "model.type"),
    ],
    ids=[
        "unknown-group-option",
        "too-many-clients",
        "zero-batch",
        "negative-epochs",
        "missing-file",
        "unknown-model",
    ],
)
def test_bad_input_fails_before_training(tmp_path, override, expected):
    result = run_fedrun([f"hydra.run.dir={tmp_path}", "rounds=1", override])
    assert result.returncode != 0
    assert expected in result.stderr
    assert not (tmp_path / "metrics.jsonl").exists()
    assert "Traceback" not in result.stderr
