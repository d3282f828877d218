"""Two `fedrun` processes in one run directory: the second is refused before it
writes anything, naming the directory and the first's pid, and the first finishes
with its outputs intact; a first run killed with SIGKILL leaves no stale lock."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import REPO_ROOT, run_fedrun

pytestmark = pytest.mark.slow

ARGS = [
    "rounds=4",
    "dataset.num_clients=12",
    "clients_per_round=3",
    "eval_every=0",
    "checkpoint.every=1",
    "progress=false",
]

# Pauses after round 2's metrics line until the file `go` exists.
LAUNCHER = """
import pathlib, sys, time
marker, go, args = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3:]
import fedrun.training.callbacks as callbacks
on_round_end = callbacks.JsonlCallback.on_round_end
def patched(self, record):
    on_round_end(self, record)
    if record["round"] == 2:
        marker.write_text("paused")
        while not go.exists():
            time.sleep(0.05)
callbacks.JsonlCallback.on_round_end = patched
sys.argv = ["fedrun", *args]
from fedrun.cli import main
main()
"""


def start_paused(run_dir, tmp_path):
    marker, go = tmp_path / "paused.marker", tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    command = [
        sys.executable,
        "-c",
        LAUNCHER,
        str(marker),
        str(go),
        f"hydra.run.dir={run_dir}",
        *ARGS,
    ]
    process = subprocess.Popen(
        command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 600
    while not marker.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the first run never paused:\n{process.communicate()[1]}")
        time.sleep(0.05)
    return process, go


def outputs(run_dir):
    """Every file of the run's own outputs with its bytes."""
    found = {}
    for name in ("metrics.jsonl", "tb", "checkpoints", "summary.json"):
        top = run_dir / name
        paths = [top] if top.is_file() else sorted(p for p in top.rglob("*") if p.is_file())
        found.update({str(p.relative_to(run_dir)): p.read_bytes() for p in paths})
    return found


def test_second_run_is_refused_and_the_first_finishes_intact(tmp_path):
    run_dir = tmp_path / "run"
    first, go = start_paused(run_dir, tmp_path)
    try:
        before = outputs(run_dir)
        second = run_fedrun([f"hydra.run.dir={run_dir}", *ARGS])
        assert second.returncode == 1, second.stderr
        assert f"cannot write to the run directory {run_dir}" in second.stderr
        assert f"in use by process {first.pid} on " in second.stderr
        assert "Traceback" not in second.stderr
        assert outputs(run_dir) == before
        go.write_text("go")
        _, stderr = first.communicate(timeout=600)
    finally:
        first.kill()
    assert first.returncode == 0, stderr
    rounds = [
        json.loads(line)["round"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()
    ]
    assert rounds == [1, 2, 3, 4]
    assert json.loads((run_dir / "summary.json").read_text())["rounds"] == 4


def test_sigkill_then_resume_finds_no_stale_lock(tmp_path):
    run_dir = tmp_path / "run"
    first, _ = start_paused(run_dir, tmp_path)
    first.send_signal(signal.SIGKILL)
    first.communicate()
    resumed = run_fedrun([f"hydra.run.dir={run_dir}", *ARGS])
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming from" in resumed.stdout + resumed.stderr
    rounds = [
        json.loads(line)["round"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()
    ]
    assert rounds == [1, 2, 3, 4]
