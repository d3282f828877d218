"""Curves: mean over a group's seeds per round, with the spread."""

import numpy as np
import pytest

from fedrun.report.plots import group_curve, plot_curves
from fedrun.report.runs import find_runs
from fedrun.report.tables import group_runs, varying_keys
from tests.report.conftest import write_run


def test_group_curve_is_the_mean_and_std_per_round(seed_sweep):
    runs = find_runs([str(seed_sweep)])
    best = group_runs(runs, ["seed"])[0]
    rounds, means, stds = group_curve(best, "train.loss")
    np.testing.assert_array_equal(rounds, [1, 2, 3])
    np.testing.assert_allclose(means, [2.0, 1.45, 0.9])
    np.testing.assert_allclose(stds, [0.0, np.std([1.5, 1.4], ddof=1), np.std([1.0, 0.8], ddof=1)])


def test_rounds_logged_by_some_runs_average_those(tmp_path):
    write_run(tmp_path / "s" / "0", ["seed=0"], [3.0, 2.0], [0.1, 0.3])
    write_run(tmp_path / "s" / "1", ["seed=1"], [3.0, 2.0, 1.0], [0.2, None, 0.6])
    (group,) = group_runs(find_runs([str(tmp_path / "s")]), ["seed"])
    rounds, means, stds = group_curve(group, "eval.federated.accuracy")
    np.testing.assert_array_equal(rounds, [1, 2, 3])
    np.testing.assert_allclose(means, [0.15, 0.3, 0.6])
    assert stds[1] == 0.0 and stds[2] == 0.0


@pytest.mark.parametrize(
    "metrics",
    [["train.loss"], ["train.loss", "eval.federated.accuracy"]],
    ids=["one-panel", "two-panels"],
)
def test_plot_is_a_png(tmp_path, seed_sweep, metrics):
    runs = find_runs([str(seed_sweep)])
    path = tmp_path / "curves.png"
    plot_curves(group_runs(runs, ["seed"]), metrics, varying_keys(runs), str(path), title="sweep")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from matplotlib.image import imread

    height, width, _ = imread(str(path)).shape
    assert width > height and width >= 600 * len(metrics)


@pytest.mark.parametrize(
    "keys", [["rounds"], ["rounds", "data"]], ids=["one-key-row", "two-keys-grid"]
)
def test_panels_lay_out_one_panel_per_setting(tmp_path, keys):
    from fedrun.report.plots import plot_panels

    for number, (data, rounds, method, seed) in enumerate(
        (d, r, m, s) for d in ("a", "b", "c") for r in (2, 3) for m in ("x", "y") for s in (0, 1)
    ):
        overrides = [f"data={data}", f"rounds={rounds}", f"method={method}", f"seed={seed}"]
        write_run(tmp_path / "sweep" / str(number), overrides, [2.0, 1.0 + seed, 0.5][:rounds])
    runs = find_runs([str(tmp_path / "sweep")])
    path = tmp_path / "panels.png"
    plot_panels(group_runs(runs, ["seed"]), "train.loss", keys, varying_keys(runs), str(path))
    from matplotlib.image import imread

    height, width, _ = imread(str(path)).shape
    panels_across = 3 if len(keys) == 2 else 2
    assert width >= 300 * panels_across and width > height


def test_a_group_keeps_its_colour_where_another_has_no_curve(tmp_path, monkeypatch):
    import matplotlib.axes

    write_run(tmp_path / "s" / "0", ["method=a"], [2.0, 1.0])  # never evaluated
    write_run(tmp_path / "s" / "1", ["method=b"], [2.0, 1.5], [0.3, 0.4])
    runs = find_runs([str(tmp_path / "s")])
    colours = []
    original = matplotlib.axes.Axes.plot

    def recording_plot(self, *args, **kwargs):
        colours.append((kwargs.get("label"), kwargs.get("color")))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(matplotlib.axes.Axes, "plot", recording_plot)
    plot_curves(
        group_runs(runs, ["seed"]),
        ["train.loss", "eval.federated.accuracy"],
        varying_keys(runs),
        str(tmp_path / "c.png"),
    )
    by_label = {}
    for label, colour in colours:
        by_label.setdefault(label, set()).add(colour)
    assert by_label == {"a": {"C0"}, "b": {"C1"}}
