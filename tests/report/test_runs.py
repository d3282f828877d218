"""Finding and reading runs in run and sweep directories."""

import numpy as np
import pytest

from fedrun.report.runs import default_metric, find_runs, load_run, lower_is_better
from tests.report.conftest import write_run


def test_finds_every_job_of_a_sweep_in_job_order(tmp_path):
    for number in (0, 2, 10, 1):
        write_run(tmp_path / "sweep" / str(number), [f"seed={number}"], [1.0])
    runs = find_runs([str(tmp_path / "sweep")])
    assert [r.overrides["seed"] for r in runs] == [0, 1, 2, 10]


def test_a_run_directory_is_one_run_and_several_paths_add_up(tmp_path):
    a = write_run(tmp_path / "a", ["seed=0"], [1.0])
    b = write_run(tmp_path / "b", [], [1.0])
    runs = find_runs([str(a), str(b)])
    assert [r.path for r in runs] == [str(a), str(b)]
    assert runs[1].overrides == {}


def test_overrides_are_typed_and_leave_out_hydra_keys_and_deletions(tmp_path):
    run_dir = write_run(
        tmp_path / "r",
        [
            "client_optimizer.learning_rate=1e-3",
            "model=cnn_emnist",
            "+extra=true",
            "~aggregator",
            "hydra.run.dir=x",
            "rounds=5",
        ],
        [1.0],
    )
    assert load_run(str(run_dir)).overrides == {
        "client_optimizer.learning_rate": 0.001,
        "model": "cnn_emnist",
        "extra": True,
        "rounds": 5,
    }


def test_series_and_final_skip_rounds_without_the_metric(tmp_path):
    run = load_run(str(write_run(tmp_path / "r", [], [3.0, 2.0, 1.0], [0.1, None, 0.3])))
    rounds, values = run.series("eval.federated.accuracy")
    np.testing.assert_array_equal(rounds, [1, 3])
    np.testing.assert_allclose(values, [0.1, 0.3])
    assert run.final("train.loss") == 1.0 and run.final("nope") is None
    assert run.rounds == 3 and run.summary["seconds"] == 1.0
    assert run.metric_names()[:3] == ["train.loss", "train.accuracy", "train.num_examples"]


def test_default_metric_prefers_federated_evaluation(tmp_path):
    evaluated = load_run(str(write_run(tmp_path / "a", [], [1.0], [0.5])))
    not_evaluated = load_run(str(write_run(tmp_path / "b", [], [1.0])))
    assert default_metric([not_evaluated, evaluated]) == "eval.federated.accuracy"
    assert default_metric([not_evaluated]) == "train.accuracy"


@pytest.mark.parametrize(
    "metric, lower",
    [
        ("train.loss", True),
        ("eval.federated.accuracy", False),
        ("round_seconds", True),
        ("aggregator.dp.epsilon", True),
    ],
    ids=["loss", "accuracy", "seconds", "epsilon"],
)
def test_which_direction_is_better(metric, lower):
    assert lower_is_better(metric) is lower


def test_missing_or_empty_directories_are_reported(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such directory"):
        find_runs([str(tmp_path / "absent")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no run directory"):
        find_runs([str(tmp_path / "empty")])


def test_summary_values_are_final_metrics_without_curves(tmp_path):
    run_dir = write_run(tmp_path / "r", ["seed=0"], [2.0, 1.0], [0.4, 0.8])
    (run_dir / "summary.json").write_text(
        '{"rounds": 2, "seconds": 3.0, "rounds_to_target": 2, "target_metric": "eval"}'
    )
    run = load_run(str(run_dir))
    assert run.final("summary.rounds_to_target") == 2 and run.final("summary.seconds") == 3.0
    assert (
        run.final("summary.absent") is None and len(run.series("summary.rounds_to_target")[0]) == 0
    )
    assert (
        "summary.rounds_to_target" in run.metric_names()
        and "summary.target_metric" not in run.metric_names()
    )
    assert lower_is_better("summary.rounds_to_target")
