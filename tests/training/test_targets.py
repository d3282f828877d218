"""Rounds to a target accuracy: the callback on hand-made records, and a real run that
stops at the target and reports it in `summary.json`."""

import json

import pytest

from fedrun.config.errors import ConfigError
from fedrun.config.schema import validate
from fedrun.training.targets import TargetAccuracyCallback, evaluation_accuracy


def record(round_num, centralized=None, federated=None):
    evaluation = {}
    if centralized is not None:
        evaluation["centralized"] = {"accuracy": centralized, "loss": 1.0}
    if federated is not None:
        evaluation["federated"] = {"accuracy": federated, "loss": 1.0}
    return {
        "round": round_num,
        "train": {"accuracy": 0.99},
        **({"eval": evaluation} if evaluation else {}),
    }


@pytest.mark.parametrize(
    "rec, expected",
    [
        (record(1, centralized=0.5, federated=0.7), ("eval.centralized.accuracy", 0.5)),
        (record(1, federated=0.7), ("eval.federated.accuracy", 0.7)),
        (record(1), None),
    ],
    ids=["centralized-preferred", "federated-fallback", "not-evaluated"],
)
def test_evaluation_accuracy_picks_the_evaluation(rec, expected):
    assert evaluation_accuracy(rec) == expected


def test_first_round_at_or_above_target_is_recorded():
    callback = TargetAccuracyCallback(0.9)
    for rec in [
        record(1, federated=0.5),
        record(2),
        record(3, federated=0.9),
        record(4, federated=0.95),
    ]:
        callback.on_round_end(rec)
    assert callback.round_reached == 3
    assert callback.summary() == {
        "target_accuracy": 0.9,
        "target_metric": "eval.federated.accuracy",
        "rounds_to_target": 3,
    }
    assert not callback.stop_training  # recording only, unless asked to stop


def test_train_accuracy_never_counts():
    callback = TargetAccuracyCallback(0.9, stop=True)
    callback.on_round_end(record(1))  # train accuracy 0.99, no evaluation
    assert callback.round_reached is None and not callback.stop_training


def test_target_never_reached_reports_none():
    callback = TargetAccuracyCallback(0.99)
    callback.on_round_end(record(1, centralized=0.98))
    assert callback.summary()["rounds_to_target"] is None
    assert callback.summary()["target_metric"] == "eval.centralized.accuracy"


def test_stop_sets_stop_training_once_reached():
    callback = TargetAccuracyCallback(0.6, stop=True)
    callback.on_round_end(record(1, centralized=0.5))
    assert not callback.stop_training
    callback.on_round_end(record(2, centralized=0.61))
    assert callback.stop_training and callback.round_reached == 2


@pytest.mark.parametrize("value", [0.0, 1.5, -0.1], ids=["zero", "above-one", "negative"])
def test_target_out_of_range_is_a_config_error(value):
    with pytest.raises(ConfigError, match="target_accuracy"):
        validate({"target_accuracy": value})


def test_target_needs_evaluation():
    with pytest.raises(ConfigError, match="eval_every"):
        validate({"target_accuracy": 0.5, "eval_every": 0})


@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory):
    """The tutorial's run (MNIST-5k, logistic regression) told to stop at 50% accuracy."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from fedrun.cli import CONF_DIR
    from fedrun.run import run

    overrides = [
        "rounds=8",
        "target_accuracy=0.5",
        "stop_at_target=true",
        "eval_train=true",
        "progress=false",
    ]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        plain = OmegaConf.to_container(compose("config", overrides=overrides), resolve=True)
    out = tmp_path_factory.mktemp("stopped")
    summary = run(plain, str(out))
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return summary, records, out


@pytest.mark.slow
def test_run_stops_at_the_round_that_reaches_the_target(stopped_run):
    summary, records, out = stopped_run
    reached = summary["rounds_to_target"]
    assert reached is not None and reached < 8  # the tutorial passes 50% within a few rounds
    assert [r["round"] for r in records] == list(range(1, reached + 1))
    assert records[-1]["eval"]["centralized"]["accuracy"] >= 0.5
    assert all(r["eval"]["centralized"]["accuracy"] < 0.5 for r in records[:-1])
    assert summary["rounds"] == reached and summary["target_metric"] == "eval.centralized.accuracy"
    assert json.loads((out / "summary.json").read_text())["rounds_to_target"] == reached
    assert (
        out / "checkpoints" / f"round_{reached:06d}.json"
    ).exists()  # the early end is checkpointed
    assert summary["checkpoints"]["last_round"] == reached


@pytest.mark.slow
def test_eval_train_evaluates_the_global_model_on_training_data(stopped_run):
    from fedrun.data.sources.mnist5k import default_path, load

    _, records, _ = stopped_run
    on_train = records[0]["eval"]["train"]
    # MNIST-5k minus the 1,000 held out, 80% of each client's share for training.
    x, _ = load(default_path())
    assert 0.75 * (len(x) - 1000) <= on_train["num_examples"] <= 0.85 * (len(x) - 1000)
    assert set(on_train) >= {"loss", "accuracy", "num_examples"}
    assert (stopped_run[2] / "tb" / "eval_train").is_dir()
