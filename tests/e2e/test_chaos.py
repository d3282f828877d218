"""Chaos: a run with a checkpoint every round is killed at seeded random moments
(SIGKILL, and SIGTERM) and resumed each time by re-running the same command; its
final weights, `metrics.jsonl` and TensorBoard scalars equal an uninterrupted run's.

A kill moment is a random number of new lines in `metrics.jsonl` (0-2) plus a
random delay (0-50 ms), so every kill lands somewhere in the round after a logged one
(training, a checkpoint write or the logging) and the run still makes progress. The
number of kills is `FEDRUN_CHAOS_KILLS` (5 by default; `make chaos` runs 20 of each
signal); the run has eight rounds per kill (at least 12), more than a kill can let it
advance, so every kill asked for lands before the run can finish.
"""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.conftest import REPO_ROOT, run_fedrun
from tests.e2e.test_resume import ARGS, ROUNDS, assert_same_as_reference

pytestmark = pytest.mark.slow

KILLS = int(os.environ.get("FEDRUN_CHAOS_KILLS", "5"))
CHAOS_ARGS = [arg for arg in ARGS if not arg.startswith(("checkpoint.every=", "rounds="))] + [
    "checkpoint.every=1",
    f"rounds={max(ROUNDS, 8 * KILLS)}",
]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("uninterrupted") / "run"
    result = run_fedrun([f"hydra.run.dir={run_dir}", *CHAOS_ARGS])
    assert result.returncode == 0, result.stderr
    return run_dir


def lines(path):
    return len(path.read_text().splitlines()) if path.exists() else 0


def launch(run_dir):
    command = [sys.executable, "-m", "fedrun", f"hydra.run.dir={run_dir}", *CHAOS_ARGS]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.Popen(
        command,
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_with_kills(run_dir, sig, kills, seed):
    """Kills `kills` launches at random moments with `sig`, then lets one finish; returns the kills that landed."""
    rng = np.random.default_rng(seed)
    metrics, landed = run_dir / "metrics.jsonl", 0
    for _ in range(kills):
        process = launch(run_dir)
        target, delay = lines(metrics) + int(rng.integers(0, 3)), float(rng.uniform(0, 0.05))
        deadline = time.monotonic() + 600
        while lines(metrics) < target and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(delay)
        if process.poll() is None:
            process.send_signal(sig)
            landed += 1
        _, stderr = process.communicate(timeout=600)
        assert process.returncode in (0, -signal.SIGKILL, 128 + signal.SIGTERM, -signal.SIGTERM), (
            stderr
        )
        assert "Traceback" not in stderr
        if process.returncode == 0:  # it finished before the kill
            break
    process = launch(run_dir)
    _, stderr = process.communicate(timeout=900)
    assert process.returncode == 0, stderr
    return landed


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["sigkill", "sigterm"])
def test_killed_at_random_and_resumed_matches_uninterrupted(reference, tmp_path, sig):
    run_dir = tmp_path / "run"
    landed = run_with_kills(run_dir, sig, KILLS, seed=int(sig))
    assert landed == KILLS
    print(f"{signal.Signals(sig).name}: {landed} kills survived")
    assert_same_as_reference(run_dir, reference)
