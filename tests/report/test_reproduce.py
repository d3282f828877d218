"""`fedrun.report.reproduce`: published-beside-ours tables from run directories, README markers, the spec."""

import json

import pytest

from fedrun.report.reproduce import (
    SpecError,
    load_spec,
    main,
    render_table,
    replace_block,
    reproduce,
    table_spec,
)
from fedrun.report.runs import find_runs
from tests.report.conftest import write_run

SPEC = """
sweeps:
  cells: [experiment=x, "cell=a,b", "seed=0,1"]
  other: [experiment=x, cell=c]
reports:
  main:
    sweeps: [cells, other]
    args: [--metric, summary.rounds_to_target, --columns, summary.rounds_to_target]
tables:
  t:
    reports: [main]
    metric: summary.rounds_to_target
    final_metric: eval.federated.accuracy
    header: [cell]
    columns:
      IID: {split: iid}
    rows:
      - {cells: [A], match: {cell: a}, published: [10]}
      - {cells: [B], match: {cell: b}, published: [20]}
      - {cells: [C], match: {cell: c}, published: [30]}
      - {cells: [D], match: {cell: d}, published: [40]}
      - {cells: [E], match: {cell: e}, published: [50]}
"""


def job(directory, cell, seed, reached, seconds):
    """A run of cell `cell`; `reached`: its rounds_to_target (None: ended below the target after 5 rounds)."""
    run = write_run(
        directory,
        [f"cell={cell}", f"seed={seed}", "split=iid"],
        [1.0] * 5,
        [0.5, 0.6, 0.7, 0.8, 0.85],
        seconds=seconds,
    )
    summary = json.loads((run / "summary.json").read_text())
    (run / "summary.json").write_text(json.dumps({**summary, "rounds_to_target": reached}))


@pytest.fixture
def experiment(tmp_path):
    directory = tmp_path / "experiments" / "x"
    directory.mkdir(parents=True)
    (directory / "reproduce.yaml").write_text(SPEC)
    (directory / "README.md").write_text(
        "# x\n\n<!-- reproduce:t -->\nstale\n<!-- /reproduce:t -->\n\nafter\n"
    )
    sweeps = tmp_path / "multirun"
    job(sweeps / "cells" / "0", "a", 0, 12, 60.0)
    job(sweeps / "cells" / "1", "a", 1, 16, 120.0)
    job(sweeps / "cells" / "2", "b", 0, None, 30.0)
    job(sweeps / "other" / "0", "c", 0, 7, 6.0)
    job(sweeps / "other" / "1", "d", 0, 9, 6.0)
    job(sweeps / "other" / "2", "d", 1, None, 6.0)
    (sweeps / "other" / "2" / "summary.json").unlink()  # stopped before it ended
    return tmp_path


def test_table_has_published_beside_mean_std_and_wall_time(experiment):
    spec = load_spec(experiment / "experiments" / "x" / "reproduce.yaml")
    runs = find_runs(
        [str(experiment / "multirun" / "cells"), str(experiment / "multirun" / "other")]
    )
    lines = render_table(table_spec(spec["tables"]["t"]), runs).splitlines()
    assert lines[0] == "| cell | IID published | IID ours | wall per run |"
    # 12 and 16 rounds: mean 14, sample std 2.83; wall (60 + 120) / 2 s = 1.5 min.
    assert lines[2] == "| A | 10 | 14.0 ± 2.8 (2 seeds) | 1.5 min |"
    assert lines[3] == "| B | 20 | > 5 (0.850) | 0.5 min |"
    assert lines[4] == "| C | 30 | 7.0 | 0.1 min |"
    assert lines[5] == "| D | 40 | 9.0; unfinished at 5 (0.850) | 0.1 min |"
    assert lines[6] == "| E | 50 | not run |  |"


def test_report_only_rewrites_results_and_the_readme_block(experiment):
    reproduce(
        "x", experiment / "multirun", report_only=True, experiments_dir=experiment / "experiments"
    )
    readme = (experiment / "experiments" / "x" / "README.md").read_text()
    assert "stale" not in readme and "| A | 10 | 14.0 ± 2.8 (2 seeds) | 1.5 min |" in readme
    assert readme.startswith("# x\n\n<!-- reproduce:t -->\n| cell |") and readme.endswith(
        "<!-- /reproduce:t -->\n\nafter\n"
    )
    assert (experiment / "experiments" / "x" / "results" / "main" / "report.md").exists()


def test_sweeps_run_in_order_with_their_sweep_dir(experiment, monkeypatch):
    calls = []
    monkeypatch.setattr(
        "fedrun.report.reproduce.run_sweep",
        lambda name, overrides, path: calls.append((name, overrides, path)),
    )
    reproduce(
        "x", experiment / "multirun", only=["other"], experiments_dir=experiment / "experiments"
    )
    assert calls == [("other", ["experiment=x", "cell=c"], experiment / "multirun" / "other")]


def test_unknown_sweep_is_an_error(experiment):
    with pytest.raises(SpecError, match="no sweep 'nope'; sweeps: cells, other"):
        reproduce(
            "x", experiment / "multirun", only=["nope"], experiments_dir=experiment / "experiments"
        )


def test_spec_cross_references_are_checked(tmp_path):
    path = tmp_path / "reproduce.yaml"
    path.write_text("sweeps: {a: [x=1]}\nreports: {r: {sweeps: [b]}}\n")
    with pytest.raises(SpecError, match="reports.r.sweeps names unknown sweep 'b'"):
        load_spec(path)
    with pytest.raises(SpecError, match="not found"):
        load_spec(tmp_path / "none.yaml")


def test_missing_markers_name_the_readme():
    with pytest.raises(
        SpecError, match="README.md: no <!-- reproduce:t --> ... <!-- /reproduce:t --> markers"
    ):
        replace_block("no markers", "t", "x", "README.md")


def test_cli_reports_a_missing_experiment(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["no_such_experiment", "--report-only", "--sweep-root", str(tmp_path)])
    assert info.value.code == 2 and "reproduce.yaml: not found" in capsys.readouterr().err
