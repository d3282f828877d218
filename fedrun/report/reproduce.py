"""`python -m fedrun.report.reproduce NAME` (`make reproduce NAME=...`): redo an experiment's numbers.

Reads `experiments/NAME/reproduce.yaml`, which lists

* `sweeps`: name -> the `fedrun -m` overrides of one sweep; its jobs go to
  `multirun/NAME/<sweep>` (`--sweep-root` changes `multirun/NAME`);
* `reports`: name -> `{sweeps: [...], args: [...]}`: a `fedrun-report` over those
  sweep directories (with those arguments) written to `experiments/NAME/results/<report>`;
* `tables`: name -> a table of "published" beside "ours" that replaces the text
  between `<!-- reproduce:NAME -->` and `<!-- /reproduce:NAME -->` in the README.

A table names its metric, its columns (label -> the overrides a run must have:
`{mcmahan17_mnist/split: iid}`) and its rows (`cells`: the row's leading cells,
`match`: overrides, `published`: one value per column). Each column shows the
published value, ours (mean ± std over the matching runs that reached the target,
`> R (acc)` for a run that ended below it, `unfinished at R (acc)` for one stopped
early) and the wall time per finished run; cells no run matches read "not run". Then, in order: every sweep runs (skipped with `--report-only`, or
only those named with `--sweeps`), every report is rebuilt, every table rewritten.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import yaml

from fedrun.cli import EXPERIMENTS_DIR, REPRODUCE_FILE, ROOT
from fedrun.report.cli import build_report
from fedrun.report.cli import parse_args as report_args
from fedrun.report.runs import RunResult, find_runs
from fedrun.report.tables import mean_std

SPEC_FILE = REPRODUCE_FILE


class SpecError(ValueError):
    """A `reproduce.yaml` that cannot be followed (names the file and the key)."""


@dataclasses.dataclass(frozen=True)
class Row:
    """One row: its leading cells, the overrides its runs have, the published values."""

    cells: tuple[str, ...]
    match: Mapping[str, Any]
    published: tuple[Any, ...]


@dataclasses.dataclass(frozen=True)
class TableSpec:
    """A published-beside-ours table (see the module docstring)."""

    reports: tuple[str, ...]
    metric: str
    final_metric: str
    header: tuple[str, ...]
    columns: Mapping[str, Mapping[str, Any]]
    rows: tuple[Row, ...]


def load_spec(path: Path) -> dict[str, Any]:
    """The parsed spec, checked for the three sections and their cross-references."""
    if not path.exists():
        raise SpecError(f"{path}: not found (an experiment with numbers to redo has a {SPEC_FILE})")
    with open(path, encoding="utf-8") as f:
        spec = yaml.safe_load(f) or {}
    for section in ("sweeps", "reports", "tables"):
        if not isinstance(spec.get(section, {}), dict):
            raise SpecError(f"{path}: {section} must be a mapping")
    for name, report in spec.get("reports", {}).items():
        unknown = [s for s in report.get("sweeps", []) if s not in spec.get("sweeps", {})]
        if unknown:
            raise SpecError(f"{path}: reports.{name}.sweeps names unknown sweep {unknown[0]!r}")
    for name, table in spec.get("tables", {}).items():
        unknown = [r for r in table.get("reports", []) if r not in spec.get("reports", {})]
        if unknown:
            raise SpecError(f"{path}: tables.{name}.reports names unknown report {unknown[0]!r}")
    return spec


def table_spec(node: Mapping[str, Any]) -> TableSpec:
    rows = tuple(
        Row(tuple(str(c) for c in r["cells"]), dict(r.get("match", {})), tuple(r["published"]))
        for r in node["rows"]
    )
    return TableSpec(
        tuple(node["reports"]),
        node["metric"],
        node.get("final_metric", ""),
        tuple(node["header"]),
        dict(node["columns"]),
        rows,
    )


def _matches(run: RunResult, match: Mapping[str, Any]) -> bool:
    return all(str(run.overrides.get(k)) == str(v) for k, v in match.items())


def _number(value: Optional[float]) -> str:
    return "" if value is None else (f"{value:.0f}" if abs(value) >= 100 else f"{value:.1f}")


def _short_of_target(run: RunResult, final_metric: str) -> str:
    accuracy = run.final(final_metric) if final_metric else None
    state = "> " if run.summary else "unfinished at "
    return f"{state}{run.rounds}" + (f" ({accuracy:.3f})" if accuracy is not None else "")


def ours(runs: Sequence[RunResult], metric: str, final_metric: str) -> tuple[str, str]:
    """The cell for a group of runs, and the mean wall time of those that finished.

    Runs that reached the target give `mean ± std (n seeds)` of `metric`; a finished
    run below it reads `> R (acc)`, a run stopped before its end `unfinished at R (acc)`.
    """
    if not runs:
        return "not run", ""
    seconds = mean_std([run.summary.get("seconds") for run in runs])[0]
    wall = "" if seconds is None else f"{seconds / 60:.1f} min"
    reached = [v for v in (run.final(metric) for run in runs) if v is not None]
    parts = []
    if reached:
        mean, std = mean_std(reached)
        seeds = f" ({len(reached)} seeds)" if len(reached) > 1 else ""
        parts.append(_number(mean) + (f" ± {_number(std)}" if std is not None else "") + seeds)
    parts += [_short_of_target(run, final_metric) for run in runs if run.final(metric) is None]
    return "; ".join(parts), wall


def render_table(spec: TableSpec, runs: Sequence[RunResult]) -> str:
    """The Markdown table: leading cells, then published / ours / wall per column."""
    header = list(spec.header)
    for column in spec.columns:
        header += [f"{column} published", f"{column} ours", "wall per run"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in spec.rows:
        cells = list(row.cells)
        for (_column, match), published in zip(spec.columns.items(), row.published):
            group = [run for run in runs if _matches(run, {**match, **row.match})]
            mine, wall = ours(group, spec.metric, spec.final_metric)
            cells += [str(published), mine, wall]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def replace_block(text: str, name: str, block: str, source: str) -> str:
    """`text` with the part between the `reproduce:NAME` markers replaced by `block`."""
    start, end = f"<!-- reproduce:{name} -->", f"<!-- /reproduce:{name} -->"
    if start not in text or end not in text:
        raise SpecError(f"{source}: no {start} ... {end} markers for table {name!r}")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{block}{end}{tail}"


def run_sweep(name: str, overrides: Sequence[str], sweep_dir: Path) -> None:
    """Runs one sweep (`fedrun -m OVERRIDES`) into `sweep_dir`."""
    command = [sys.executable, "-m", "fedrun", "-m", *overrides, f"hydra.sweep.dir={sweep_dir}"]
    print(f"reproduce: sweep {name}: {' '.join(command[2:])}", flush=True)
    subprocess.run(command, check=True, cwd=ROOT)


def reproduce(
    name: str,
    sweep_root: Path,
    report_only: bool = False,
    only: Optional[Sequence[str]] = None,
    experiments_dir: Path = EXPERIMENTS_DIR,
) -> None:
    """Runs the sweeps of experiment `name`, then rebuilds its reports and README tables.

    Args:
        name: The experiment (a folder of `experiments_dir`).
        sweep_root: Where each sweep's jobs go (`sweep_root/<sweep>`).
        report_only: Run no sweep; rebuild from the runs already there.
        only: Run only these sweeps (None: all).
        experiments_dir: The experiments folder.
    """
    directory = experiments_dir / name
    spec_path = directory / SPEC_FILE
    spec = load_spec(spec_path)
    sweeps: dict[str, list[str]] = spec.get("sweeps", {})
    unknown = [s for s in only or [] if s not in sweeps]
    if unknown:
        raise SpecError(f"{spec_path}: no sweep {unknown[0]!r}; sweeps: {', '.join(sweeps)}")
    if not report_only:
        for sweep, overrides in sweeps.items():
            if only is None or sweep in only:
                run_sweep(sweep, overrides, sweep_root / sweep)
    report_runs: dict[str, list[RunResult]] = {}
    for report, node in spec.get("reports", {}).items():
        present = [
            os.path.relpath(sweep_root / s)
            for s in node["sweeps"]
            if any((sweep_root / s).glob("**/metrics.jsonl"))
        ]
        if not present:
            print(
                f"reproduce: report {report}: none of its sweeps has run yet, skipped", flush=True
            )
            continue
        out = directory / "results" / report
        build_report(report_args([*present, *node.get("args", []), "--out", str(out)]))
        report_runs[report] = find_runs(present)
        print(f"reproduce: report {report} -> {out}", flush=True)
    readme = directory / "README.md"
    text = readme.read_text(encoding="utf-8")
    for table, node in spec.get("tables", {}).items():
        spec_t = table_spec(node)
        runs = [run for report in spec_t.reports for run in report_runs.get(report, [])]
        text = replace_block(text, table, render_table(spec_t, runs), str(readme))
    readme.write_text(text, encoding="utf-8")
    print(f"reproduce: tables of {readme} rewritten", flush=True)


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Console entry point."""
    parser = argparse.ArgumentParser(
        prog="python -m fedrun.report.reproduce", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("name", help="experiment name (a folder of experiments/)")
    parser.add_argument("--sweep-root", help="where the sweeps' jobs go (default multirun/NAME)")
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="rebuild reports and tables from the runs already there",
    )
    parser.add_argument(
        "--sweeps",
        nargs="+",
        help="run only these sweeps (every report and table is still rebuilt)",
    )
    args = parser.parse_args(argv)
    sweep_root = Path(args.sweep_root) if args.sweep_root else ROOT / "multirun" / args.name
    try:
        reproduce(args.name, sweep_root.resolve(), args.report_only, args.sweeps)
    except (SpecError, FileNotFoundError, ValueError, subprocess.CalledProcessError) as err:
        print(f"reproduce: {err}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
