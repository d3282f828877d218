"""Run and group tables: best first, mean and std over seeds, Markdown and CSV."""

import csv

import pytest

from fedrun.report.runs import find_runs
from fedrun.report.tables import (
    common_settings,
    group_runs,
    group_table,
    mean_std,
    run_table,
    to_markdown,
    varying_keys,
    write_csv,
)

METRICS = ["eval.federated.accuracy", "train.loss"]


@pytest.fixture
def runs(seed_sweep):
    return find_runs([str(seed_sweep)])


def test_varying_and_common_settings(runs):
    assert varying_keys(runs) == ["client_optimizer.learning_rate", "seed"]
    assert common_settings(runs) == {"rounds": 3}


def test_run_table_is_best_first_with_final_values(runs):
    table = run_table(runs, METRICS, "eval.federated.accuracy")
    assert table.columns == (
        "run",
        "client_optimizer.learning_rate",
        "seed",
        *METRICS,
        "rounds",
        "seconds",
    )
    assert [row[0] for row in table.rows] == ["1", "0", "2", "3"]
    assert table.rows[0][1:] == (0.1, 1, 0.9, 0.8, 3, 11.0)


def test_run_table_ranks_losses_lowest_first(runs):
    table = run_table(runs, METRICS, "train.loss")
    assert [row[0] for row in table.rows] == ["1", "0", "3", "2"]


def test_groups_average_over_seeds(runs):
    groups = group_runs(runs, ["seed"])
    assert [len(g.runs) for g in groups] == [2, 2]
    table = group_table(groups, METRICS, "eval.federated.accuracy", varying_keys(runs))
    assert table.columns == (
        "client_optimizer.learning_rate",
        "seeds",
        "eval.federated.accuracy mean",
        "eval.federated.accuracy std",
        "train.loss mean",
        "train.loss std",
    )
    best, worst = table.rows
    assert best[:3] == (0.1, 2, pytest.approx(0.8))
    assert best[3] == pytest.approx(0.1414214, rel=1e-6)  # sample std of 0.7, 0.9
    assert worst[0] == 0.01 and worst[4] == pytest.approx(1.7)


def test_the_over_keys_decide_the_groups(runs):
    assert len(group_runs(runs, ["seed", "client_optimizer.learning_rate"])) == 1
    assert len(group_runs(runs, [])) == 4


@pytest.mark.parametrize(
    "values, expected",
    [
        ([1.0, 3.0], (2.0, pytest.approx(1.4142136))),
        ([2.0], (2.0, None)),
        ([None, 4.0], (4.0, None)),
        ([], (None, None)),
    ],
    ids=["two", "one", "missing-one", "none"],
)
def test_mean_std(values, expected):
    assert mean_std(values) == expected


def test_markdown_merges_mean_and_std(runs):
    table = group_table(
        group_runs(runs, ["seed"]), METRICS, "eval.federated.accuracy", varying_keys(runs)
    )
    text = to_markdown(table, merge_std=True)
    header, rule, first, second = text.strip().splitlines()
    assert (
        header
        == "| client_optimizer.learning_rate | seeds | eval.federated.accuracy | train.loss |"
    )
    assert rule == "|---|---|---|---|"
    assert first == "| 0.1000 | 2 | 0.8000 ± 0.1414 | 0.9000 ± 0.1414 |"
    assert second.startswith("| 0.0100 | 2 | 0.3000 ± 0.1414 |")


def test_csv_keeps_full_precision_and_empty_cells(tmp_path, runs):
    table = run_table(runs, ["eval.federated.accuracy", "nope"], "eval.federated.accuracy")
    path = tmp_path / "runs.csv"
    write_csv(table, str(path))
    rows = list(csv.reader(path.open()))
    assert rows[0] == list(table.columns)
    assert rows[1][:4] == ["1", "0.1", "1", "0.9"] and rows[1][4] == ""
