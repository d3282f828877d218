"""metrics.csv: a row per round, a column per dotted metric, rewound on resume."""

import csv

from fedrun.training.csv_logger import CsvCallback, csv_row


def record(round_num, accuracy, evaluated=False):
    r = {
        "round": round_num,
        "train": {"accuracy": accuracy, "num_examples": 10},
        "aggregator": {"clipping": {"norm": 1.5}},
        "finalizer": {"flags": [1, 2]},
        "round_seconds": 0.25,
    }
    if evaluated:
        r["eval"] = {"federated": {"accuracy": accuracy + 0.1}}
    return r


def read(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_row_flattens_numbers_under_dotted_names():
    assert csv_row(record(2, 0.5, evaluated=True)) == {
        "round": 2,
        "train.accuracy": 0.5,
        "train.num_examples": 10,
        "aggregator.clipping.norm": 1.5,
        "round_seconds": 0.25,
        "eval.federated.accuracy": 0.6,
    }


def test_columns_first_seen_later_are_added_and_earlier_cells_left_empty(tmp_path):
    path = tmp_path / "metrics.csv"
    callback = CsvCallback(str(path))
    callback.on_train_begin(1)
    callback.on_round_end(record(1, 0.5))
    callback.on_round_end(record(2, 0.75, evaluated=True))
    rows = read(path)
    assert [r["round"] for r in rows] == ["1", "2"]
    assert (
        rows[0]["eval.federated.accuracy"] == ""
        and float(rows[1]["eval.federated.accuracy"]) == 0.85
    )
    assert float(rows[1]["train.accuracy"]) == 0.75


def test_resume_keeps_rows_before_the_start_round_and_drops_the_rest(tmp_path):
    path = tmp_path / "metrics.csv"
    first = CsvCallback(str(path))
    first.on_train_begin(1)
    for k in (1, 2, 3):
        first.on_round_end(record(k, k / 10, evaluated=k == 2))
    resumed = CsvCallback(str(path))
    resumed.on_train_begin(3)
    resumed.on_round_end(record(3, 0.9))
    rows = read(path)
    assert [(r["round"], float(r["train.accuracy"])) for r in rows] == [
        ("1", 0.1),
        ("2", 0.2),
        ("3", 0.9),
    ]
    assert float(rows[1]["eval.federated.accuracy"]) == 0.2 + 0.1
