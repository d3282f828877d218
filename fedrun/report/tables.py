"""Tables across runs: every run's overrides and final metrics, and the same
grouped over seeds (mean and standard deviation), best first; Markdown and CSV.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import os
from typing import Any, Optional, Sequence

import numpy as np

from fedrun.report.runs import RunResult, lower_is_better

Cell = Any


@dataclasses.dataclass(frozen=True)
class Table:
    """Rows of cells under named columns.

    Attributes:
        columns: Column names.
        rows: One tuple of cells per row (numbers, strings or None).
    """

    columns: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]


@dataclasses.dataclass(frozen=True)
class Group:
    """Runs that differ only in the `over` keys (seeds).

    Attributes:
        settings: The overrides they share, minus the `over` keys.
        runs: The runs.
    """

    settings: tuple[tuple[str, Any], ...]
    runs: tuple[RunResult, ...]

    def label(self, varying: Sequence[str]) -> str:
        """`key=value` of the settings that vary across groups; else the run's
        directory name (or `all runs` for a group of several)."""
        parts = [f"{k}={_short(v)}" for k, v in self.settings if k in varying]
        if parts:
            return " ".join(parts)
        return (
            "all runs"
            if len(self.runs) > 1
            else os.path.basename(os.path.normpath(self.runs[0].path))
        )


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def varying_keys(runs: Sequence[RunResult]) -> list[str]:
    """Override keys whose value is not the same in every run, in first-seen order."""
    keys = list(dict.fromkeys(k for run in runs for k in run.overrides))
    missing = object()
    return [k for k in keys if len({repr(run.overrides.get(k, missing)) for run in runs}) > 1]


def common_settings(runs: Sequence[RunResult]) -> dict[str, Any]:
    """Overrides every run shares (shown once, above the tables)."""
    varying = set(varying_keys(runs))
    return {k: v for k, v in runs[0].overrides.items() if k not in varying} if runs else {}


def group_runs(runs: Sequence[RunResult], over: Sequence[str] = ("seed",)) -> list[Group]:
    """Runs grouped by their overrides other than `over`, in first-seen order."""
    groups: dict[str, list[RunResult]] = {}
    settings: dict[str, tuple[tuple[str, Any], ...]] = {}
    for run in runs:
        key_items = tuple((k, v) for k, v in run.overrides.items() if k not in over)
        # A run with no overrides at all (not a sweep job) is a group of its own.
        key = repr(sorted(key_items, key=lambda kv: kv[0])) if run.overrides else run.path
        groups.setdefault(key, []).append(run)
        settings.setdefault(key, key_items)
    return [Group(settings[key], tuple(members)) for key, members in groups.items()]


def _rank(values: Sequence[Optional[float]], metric: str) -> list[int]:
    """Positions best first; missing values last."""
    sign = 1.0 if lower_is_better(metric) else -1.0
    return sorted(range(len(values)), key=lambda i: (values[i] is None, sign * (values[i] or 0.0)))


def run_table(runs: Sequence[RunResult], metrics: Sequence[str], sort_by: str) -> Table:
    """Every run: its varying overrides, final metrics, rounds and seconds, best first."""
    keys = varying_keys(runs)
    finals = [[run.final(m) for m in metrics] for run in runs]
    order = _rank([run.final(sort_by) for run in runs], sort_by)
    rows = []
    for i in order:
        run = runs[i]
        cells = [os.path.basename(os.path.normpath(run.path))] + [
            run.overrides.get(k) for k in keys
        ]
        rows.append(tuple(cells + finals[i] + [run.rounds, run.summary.get("seconds")]))
    return Table(tuple(["run", *keys, *metrics, "rounds", "seconds"]), tuple(rows))


def mean_std(values: Sequence[Optional[float]]) -> tuple[Optional[float], Optional[float]]:
    """Mean and sample standard deviation of the present values (std None for one)."""
    present = [v for v in values if v is not None]
    if not present:
        return None, None
    std = float(np.std(present, ddof=1)) if len(present) > 1 else None
    return float(np.mean(present)), std


def group_table(
    groups: Sequence[Group], metrics: Sequence[str], sort_by: str, varying: Sequence[str]
) -> Table:
    """Per group: its varying settings, seed count, and mean / std of each final metric."""
    keys = [k for k in varying if any(k in dict(g.settings) for g in groups)]
    stats = [[mean_std([run.final(m) for run in g.runs]) for m in metrics] for g in groups]
    order = _rank([mean_std([run.final(sort_by) for run in g.runs])[0] for g in groups], sort_by)
    rows = []
    for i in order:
        settings = dict(groups[i].settings)
        cells: list[Cell] = [settings.get(k) for k in keys] + [len(groups[i].runs)]
        for mean, std in stats[i]:
            cells += [mean, std]
        rows.append(tuple(cells))
    columns = [*keys, "seeds"] + [f"{m} {part}" for m in metrics for part in ("mean", "std")]
    return Table(tuple(columns), tuple(rows))


def _format(cell: Cell) -> str:
    if cell is None or (isinstance(cell, float) and math.isnan(cell)):
        return ""
    if isinstance(cell, float):
        return (
            f"{cell:.4g}" if abs(cell) >= 1e4 or (cell != 0 and abs(cell) < 1e-3) else f"{cell:.4f}"
        )
    return str(cell)


def to_markdown(table: Table, merge_std: bool = False) -> str:
    """A GitHub Markdown table; with `merge_std`, `X mean` / `X std` pairs become `X` = `mean ± std`."""
    columns, rows = list(table.columns), [list(r) for r in table.rows]
    if merge_std:
        merged_columns, merged_rows = [], [[] for _ in rows]
        for j, name in enumerate(columns):
            if name.endswith(" std") and j > 0 and columns[j - 1] == name[: -len(" std")] + " mean":
                continue
            pair = (
                name.endswith(" mean")
                and j + 1 < len(columns)
                and columns[j + 1] == name[: -len(" mean")] + " std"
            )
            merged_columns.append(name[: -len(" mean")] if pair else name)
            for row, out in zip(rows, merged_rows):
                text = _format(row[j])
                if pair and row[j + 1] is not None:
                    text += f" ± {_format(row[j + 1])}"
                out.append(text)
        columns, cells = merged_columns, merged_rows
    else:
        cells = [[_format(c) for c in row] for row in rows]
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in cells]
    return "\n".join(lines) + "\n"


def write_csv(table: Table, path: str) -> None:
    """Writes the table as CSV (full precision, empty cells for missing values)."""
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(table.columns)
        writer.writerows([["" if c is None else c for c in row] for row in table.rows])
