"""`fedrun-report RUN_OR_SWEEP_DIR...`: tables and curves across runs.

Writes into the output directory (default `DIR/report` for one directory,
`./report` for several):

* `report.md`: the settings every run shares, a table of every run (its varying
  overrides and final metrics, best first) and, when runs differ by `seed`, a
  table per group of seeds with mean ± std, best first; it embeds the plot;
* `runs.csv` (and `groups.csv`): the same tables at full precision;
* `curves.png`: each metric against the round, one line per group (mean over
  seeds, with a band of one standard deviation); with `--panels KEY [KEY]`, the
  first curve metric in one panel per value of those overrides (rows and columns
  for two keys), as papers lay out a grid of settings.

Examples:
    fedrun-report multirun/2026-01-01/12-00-00
    fedrun-report outputs/fedavg outputs/fedprox --metric train.loss --out report/
    fedrun-report SWEEP --metric eval.federated.accuracy --curves train.loss eval.federated.accuracy
    fedrun-report SWEEP --columns summary.rounds_to_target --metric summary.rounds_to_target
    fedrun-report SWEEP --curves eval.train.loss --panels stragglers.fraction dataset
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Optional, Sequence

from fedrun.report.plots import plot_curves, plot_panels
from fedrun.report.runs import RunResult, default_metric, find_runs, lower_is_better
from fedrun.report.tables import (
    common_settings,
    group_runs,
    group_table,
    run_table,
    to_markdown,
    varying_keys,
    write_csv,
)

EXIT_BAD_INPUT = 2


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="fedrun-report",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "dirs",
        nargs="+",
        metavar="RUN_OR_SWEEP_DIR",
        help="run directories or sweep directories holding them",
    )
    parser.add_argument(
        "--out", "-o", help="output directory (default: DIR/report for one DIR, else ./report)"
    )
    parser.add_argument(
        "--metric",
        help="metric that ranks runs (default: the first of eval.federated.accuracy, "
        "eval.centralized.accuracy, train.accuracy, train.loss the runs log)",
    )
    parser.add_argument(
        "--columns",
        nargs="+",
        help="final metrics in the tables (default: the ranking metric and train.loss)",
    )
    parser.add_argument(
        "--curves", nargs="+", help="metrics to plot against the round (default: as --columns)"
    )
    parser.add_argument(
        "--over",
        nargs="*",
        default=["seed"],
        help="override keys averaged over in groups (default: seed)",
    )
    parser.add_argument("--title", help="title of the plot")
    parser.add_argument(
        "--panels",
        nargs="+",
        metavar="KEY",
        help="one panel per value of these one or two "
        "override keys (rows, columns), showing the first curve metric",
    )
    return parser.parse_args(argv)


def _check_metrics(runs: Sequence[RunResult], metrics: Sequence[str]) -> None:
    known = list(dict.fromkeys(name for run in runs for name in run.metric_names()))
    unknown = [m for m in metrics if m not in known]
    if unknown:
        raise ValueError(f"no run logs {unknown[0]!r}; metrics they log: {', '.join(known)}")


def output_dir(args: argparse.Namespace) -> str:
    """Where the report goes: `--out`, else `DIR/report` for one DIR, else `./report`."""
    return args.out or (os.path.join(args.dirs[0], "report") if len(args.dirs) == 1 else "report")


def build_report(args: argparse.Namespace) -> str:
    """Writes the report files; returns the Markdown."""
    runs = find_runs(args.dirs)
    metric = args.metric or default_metric(runs)
    columns = args.columns or list(dict.fromkeys([metric, "train.loss"]))
    curves = args.curves or columns
    _check_metrics(runs, [metric, *columns, *curves])
    out = output_dir(args)
    os.makedirs(out, exist_ok=True)

    varying = varying_keys(runs)
    if args.panels and (len(args.panels) > 2 or any(k not in varying for k in args.panels)):
        raise ValueError(
            f"--panels takes one or two of the overrides that vary: {', '.join(varying)}"
        )
    groups = group_runs(runs, args.over)
    seeded = any(len(g.runs) > 1 for g in groups)
    goal = "lower" if lower_is_better(metric) else "higher"
    lines = [f"# Runs of {', '.join(args.dirs)}", ""]
    common = common_settings(runs)
    if common:
        lines += [
            "Settings every run shares: " + ", ".join(f"`{k}={v}`" for k, v in common.items()),
            "",
        ]
    lines += [f"Ranked by the final `{metric}` ({goal} is better).", ""]
    if seeded:
        table = group_table(groups, columns, metric, varying)
        write_csv(table, os.path.join(out, "groups.csv"))
        over = ", ".join(args.over)
        lines += [f"## Mean ± std over {over}", "", to_markdown(table, merge_std=True)]
    table = run_table(runs, columns, metric)
    write_csv(table, os.path.join(out, "runs.csv"))
    lines += ["## Every run", "", to_markdown(table)]
    plot_groups = groups if seeded else group_runs(runs, ())
    plot_varying = [k for k in varying if k not in args.over or not seeded]
    if args.panels:
        plot_panels(
            plot_groups,
            curves[0],
            args.panels,
            plot_varying,
            os.path.join(out, "curves.png"),
            args.title,
        )
    else:
        plot_curves(plot_groups, curves, plot_varying, os.path.join(out, "curves.png"), args.title)
    lines += ["## Curves", "", "![metric curves](curves.png)", ""]
    markdown = "\n".join(lines)
    with open(os.path.join(out, "report.md"), "w", encoding="utf-8") as f:
        f.write(markdown)
    return markdown


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Console entry point."""
    args = parse_args(argv)
    try:
        markdown = build_report(args)
    except (FileNotFoundError, ValueError) as err:
        print(f"fedrun-report: {err}", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)
    print(markdown)
    print(f"Report written to {output_dir(args)}")


if __name__ == "__main__":
    main()
