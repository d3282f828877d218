"""Lists and runs fedrun's benchmark suites (`make bench ARGS="..."`).

    python -m benchmarks.run                 # the workloads W1..W5
    python -m benchmarks.run w1 w3           # some of them
    python -m benchmarks.run --all           # every suite in benchmarks/
    python -m benchmarks.run --list          # names and what each measures
    python -m benchmarks.run w1 -- --rounds 6   # arguments after -- go to each suite

A suite is a module `benchmarks/NAME.py` with a `main()`; each runs in its own
process (its peak memory and compilation caches are its own). W1..W5 have short
names; any other module in the folder is a suite under its module name.
"""

from __future__ import annotations

import argparse
import ast
import datetime
import os
import subprocess
import sys
from pathlib import Path
from typing import Optional, Sequence

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORKLOADS = {
    "w1": "w1_tutorial",
    "w2": "w2_cnn_emnist",
    "w3": "w3_small_clients",
    "w4": "w4_memory",
    "w5": "w5_char_rnn",
}
NOT_SUITES = {"__init__", "__main__", "run", "harness"}


def discover() -> dict[str, str]:
    """Suite name -> module name: W1..W5 first, then every other module with a `main()`."""
    suites = {
        name: module for name, module in WORKLOADS.items() if (HERE / f"{module}.py").exists()
    }
    for path in sorted(HERE.glob("*.py")):
        module = path.stem
        if module in NOT_SUITES or module in suites.values():
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if any(isinstance(node, ast.FunctionDef) and node.name == "main" for node in tree.body):
            suites[module] = module
    return suites


def describe(module: str) -> str:
    """The first line of a suite's docstring."""
    tree = ast.parse((HERE / f"{module}.py").read_text(encoding="utf-8"))
    doc = ast.get_docstring(tree) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def machine_lines() -> list[str]:
    """Date, CPU, memory and load: what a reader needs to judge the numbers."""
    cpu = "unknown CPU"
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            cpu = next(
                (line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu
            )
    memory = ""
    if os.path.exists("/proc/meminfo"):
        with open("/proc/meminfo", encoding="ascii") as f:
            total_kb = next((int(line.split()[1]) for line in f if line.startswith("MemTotal")), 0)
        memory = f", {total_kb / 2**20:.1f} GiB memory"
    one, five, fifteen = os.getloadavg()
    return [
        f"fedrun benchmarks, {datetime.datetime.now().isoformat(timespec='seconds')}",
        f"machine: {cpu}, {os.cpu_count()} logical cores{memory}",
        f"load average at start: {one:.2f} {five:.2f} {fifteen:.2f} (timings on a loaded machine are slower and noisier)",
    ]


def run_suite(module: str, args: Sequence[str]) -> int:
    """Runs `benchmarks.MODULE` in a fresh interpreter; returns its exit code."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return subprocess.call([sys.executable, "-m", f"benchmarks.{module}", *args], cwd=ROOT, env=env)


def main(argv: Optional[Sequence[str]] = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    passthrough: list[str] = []
    if "--" in argv:
        passthrough = argv[argv.index("--") + 1 :]
        argv = argv[: argv.index("--")]
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("names", nargs="*", help="suites to run (default: w1 w2 w3 w4 w5)")
    parser.add_argument("--all", action="store_true", help="run every suite")
    parser.add_argument("--list", action="store_true", help="list the suites and exit")
    args = parser.parse_args(argv)

    suites = discover()
    if args.list:
        for name, module in suites.items():
            print(f"  {name:20s} {describe(module)}")
        return
    names = list(suites) if args.all else (args.names or [n for n in WORKLOADS if n in suites])
    unknown = [n for n in names if n not in suites]
    if unknown:
        parser.error(f"unknown suite(s) {', '.join(unknown)}; known: {', '.join(suites)}")

    print("\n".join(machine_lines()), flush=True)
    failed = []
    for name in names:
        print(
            f"\n### {name} (python -m benchmarks.{suites[name]} {' '.join(passthrough)})".rstrip(),
            flush=True,
        )
        if run_suite(suites[name], passthrough) != 0:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
