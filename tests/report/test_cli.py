"""`fedrun-report` on run and sweep directories: files written, bad input refused."""

import csv

import pytest

from fedrun.report.cli import main
from tests.report.conftest import write_run


def test_sweep_report_has_groups_runs_and_curves(seed_sweep, capsys):
    main([str(seed_sweep)])
    out = seed_sweep / "report"
    markdown = (out / "report.md").read_text()
    assert capsys.readouterr().out.startswith(markdown)
    assert "Settings every run shares: `rounds=3`" in markdown
    assert "## Mean ± std over seed" in markdown and "## Every run" in markdown
    assert "![metric curves](curves.png)" in markdown
    assert (out / "curves.png").read_bytes()[:4] == b"\x89PNG"
    groups = list(csv.DictReader((out / "groups.csv").open()))
    assert [g["client_optimizer.learning_rate"] for g in groups] == ["0.1", "0.01"]
    runs = list(csv.DictReader((out / "runs.csv").open()))
    assert [r["run"] for r in runs] == ["1", "0", "2", "3"]


def test_runs_without_seeds_get_no_group_table(tmp_path):
    a = write_run(tmp_path / "fedavg", ["algorithm=fedavg"], [2.0, 1.0])
    b = write_run(tmp_path / "fedprox", ["algorithm=fedprox"], [2.0, 0.5])
    main([str(a), str(b), "--out", str(tmp_path / "out"), "--metric", "train.loss"])
    markdown = (tmp_path / "out" / "report.md").read_text()
    assert "Mean ± std" not in markdown and not (tmp_path / "out" / "groups.csv").exists()
    assert markdown.index("| fedprox |") < markdown.index("| fedavg |")


@pytest.mark.parametrize(
    "args, message",
    [
        (["--metric", "eval.nope"], "no run logs 'eval.nope'"),
        (["--curves", "x.y"], "no run logs 'x.y'"),
    ],
    ids=["unknown-metric", "unknown-curve"],
)
def test_unknown_metrics_name_the_known_ones(seed_sweep, capsys, args, message):
    with pytest.raises(SystemExit) as exit_info:
        main([str(seed_sweep), *args])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "train.loss" in err


def test_a_directory_without_runs_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main([str(tmp_path)])
    assert "no run directory" in capsys.readouterr().err


def test_panels_must_name_varying_overrides(seed_sweep, capsys):
    with pytest.raises(SystemExit):
        main([str(seed_sweep), "--panels", "rounds"])
    assert (
        "--panels takes one or two of the overrides that vary: client_optimizer.learning_rate, seed"
        in capsys.readouterr().err
    )


def test_panels_and_summary_columns(seed_sweep):
    main(
        [
            str(seed_sweep),
            "--panels",
            "client_optimizer.learning_rate",
            "--columns",
            "summary.seconds",
            "train.loss",
        ]
    )
    out = seed_sweep / "report"
    assert (out / "curves.png").read_bytes()[:4] == b"\x89PNG"
    groups = list(csv.DictReader((out / "groups.csv").open()))
    assert [g["summary.seconds mean"] for g in groups] == ["10.5", "12.5"]
