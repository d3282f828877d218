"""Data-preparation progress: silent when quick or off, a bar or lines when slow."""

import io

import pytest

from fedrun.data import progress as progress_module
from fedrun.data.progress import QUIET, DataProgress


class Terminal(io.StringIO):
    def isatty(self):
        return True


def run_step(progress, units=5):
    with progress.task("reading things", units, "rows") as advance:
        for _ in range(units):
            advance(1)


@pytest.mark.parametrize(
    "progress",
    [QUIET, DataProgress("lines", delay=60.0), DataProgress("bar", delay=60.0)],
    ids=["off", "lines-quick-step", "bar-quick-step"],
)
def test_quick_or_disabled_steps_print_nothing(progress):
    stream = Terminal()
    run_step(DataProgress(progress.mode, progress.delay, stream))
    assert stream.getvalue() == ""


def test_lines_report_the_total_when_done():
    stream = io.StringIO()
    run_step(DataProgress("lines", delay=0.0, stream=stream), units=1234)
    assert stream.getvalue().startswith("data: reading things: 1,234 rows done, ")
    assert stream.getvalue().count("\n") == 1


def test_lines_repeat_while_a_long_step_runs(monkeypatch):
    clock = iter(float(t) for t in range(0, 100, 6))
    monkeypatch.setattr(progress_module.time, "monotonic", lambda: next(clock))
    stream = io.StringIO()
    with DataProgress("lines", delay=0.0, stream=stream).task("parsing", 4, "rows") as advance:
        for _ in range(4):
            advance(1)  # the clock moves 6 s per call: a line every second call
    lines = stream.getvalue().splitlines()
    assert lines == [
        "data: parsing: 2/4 rows (50%), 12.0 s",
        "data: parsing: 4/4 rows (100%), 24.0 s",
        "data: parsing: 4 rows done, 30.0 s",
    ]


@pytest.mark.parametrize("mode", ["bar", True], ids=["bar", "true-on-a-terminal"])
def test_a_bar_on_terminals(mode):
    stream = Terminal()
    run_step(DataProgress(mode, delay=0.0, stream=stream))
    assert "reading things: 100%" in stream.getvalue() and "5/5" in stream.getvalue()


def test_true_writes_lines_when_not_a_terminal():
    stream = io.StringIO()
    run_step(DataProgress(True, delay=0.0, stream=stream))
    assert stream.getvalue().startswith("data: reading things: 5 rows done")


def test_track_yields_every_item_and_counts_them():
    stream = io.StringIO()
    items = list(DataProgress("lines", delay=0.0, stream=stream).track(["a", "b"], "ids", "ids"))
    assert items == ["a", "b"]
    assert stream.getvalue().startswith("data: ids: 2 ids done")
