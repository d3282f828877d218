"""`metrics.csv`: a row per round, a column per flattened metric, for spreadsheets and pandas.

Columns are `round` then every scalar of the round records as a dotted path
(`train.loss`, `eval.federated.accuracy`, `aggregator.clipping_norm` ...), the names
`fedrun-report` uses; a round without a value (no evaluation that round) leaves
the cell empty. A metric first seen in a later round adds a column, so the file is
rewritten whole (atomically) every round; a resumed run keeps the rows before the
round it resumes at and drops the rest, as `metrics.jsonl` does.
"""

from __future__ import annotations

import csv
import io
import os
from typing import Any, Mapping

from fedrun.training.atomic import write_atomic
from fedrun.training.callbacks import Callback, Record

CSV_FILE = "metrics.csv"


def csv_row(record: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A record's numbers under dotted names, `round` first (lists and flags left out)."""
    row: dict[str, Any] = {}
    for key, value in record.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            row.update(csv_row(value, name))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            row[name] = value
    return row


class CsvCallback(Callback):
    """Writes `metrics.csv`.

    Args:
        path: The file (`<run dir>/metrics.csv`).
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._rows: list[dict[str, Any]] = []
        self._columns: list[str] = ["round"]

    def on_train_begin(self, start_round: int) -> None:
        if not os.path.exists(self.path):
            return
        with open(self.path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            self._columns = list(reader.fieldnames or ["round"])
            self._rows = [row for row in reader if int(row["round"]) < start_round]

    def on_round_end(self, record: Record) -> None:
        row = csv_row(record)
        self._columns += [name for name in row if name not in self._columns]
        self._rows.append(row)
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=self._columns, restval="", lineterminator="\n")
        writer.writeheader()
        writer.writerows(self._rows)
        write_atomic(self.path, text.getvalue().encode())
