"""Real `fedrun` processes killed mid-run (SIGKILL during a checkpoint write and
between checkpoints, a corrupt newest checkpoint, SIGINT) and resumed by re-running
the same command end with the same weights, `metrics.jsonl` and TensorBoard scalars
as an uninterrupted run.

The kill points are exact: a small launcher patches fedrun in the child process to
pause at the chosen moment (half-way through writing a checkpoint's arrays, or
just after a round's metrics line) and the test kills it there.
"""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.util.tensor_util import make_ndarray

from tests.conftest import REPO_ROOT, run_fedrun

pytestmark = pytest.mark.slow

ROUNDS = 12
ARGS = [
    f"rounds={ROUNDS}",
    "dataset.num_clients=12",
    "clients_per_round=4",
    "sampling=uniform",
    "eval_every=4",
    "eval_clients=4",
    "checkpoint.every=3",
    "checkpoint.keep=3",
    "progress=false",
]

LAUNCHER = """
import os, pathlib, signal, sys, time
marker, mode, value, args = pathlib.Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4:]
import fedrun.training.atomic as atomic
import fedrun.training.callbacks as callbacks

def pause():
    marker.write_text("paused")
    time.sleep(600)

if mode == "checkpoint-write":  # pause half-way through the value-th checkpoint's arrays
    write, arrays_written = atomic.write_chunks, [0]
    def write_chunks(fd, data):
        if len(data) > 10000:
            arrays_written[0] += 1
            if arrays_written[0] == value:
                write(fd, data[: len(data) // 2])
                os.fsync(fd)
                pause()
        write(fd, data)
    atomic.write_chunks = write_chunks
else:  # after round `value`'s metrics line: pause, or send ourselves SIGINT
    on_round_end = callbacks.JsonlCallback.on_round_end
    def patched(self, record):
        on_round_end(self, record)
        if record["round"] == value:
            pause() if mode == "after-round" else os.kill(os.getpid(), signal.SIGINT)
    callbacks.JsonlCallback.on_round_end = patched
sys.argv = ["fedrun", *args]
from fedrun.cli import main
main()
"""


def launch(run_dir, mode, value):
    marker = run_dir.parent / f"{run_dir.name}.{mode}.{value}.marker"
    command = [
        sys.executable,
        "-c",
        LAUNCHER,
        str(marker),
        mode,
        str(value),
        f"hydra.run.dir={run_dir}",
        *ARGS,
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    process = subprocess.Popen(
        command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    return process, marker


def kill_when_paused(process, marker, timeout=600):
    deadline = time.monotonic() + timeout
    while not marker.exists():
        if process.poll() is not None:
            pytest.fail(
                f"fedrun exited ({process.returncode}) before the kill point:\n{process.stderr.read()}"
            )
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("fedrun never reached the kill point")
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()


def metric_lines(run_dir):
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k != "round_seconds"} for line in lines]


def final_arrays(run_dir):
    last_round = metric_lines(run_dir)[-1]["round"]
    with np.load(
        run_dir / "checkpoints" / f"round_{last_round:06d}.npz", allow_pickle=False
    ) as npz:
        return {name: npz[name] for name in npz.files}


def tensorboard_scalars(run_dir, run):
    accumulator = EventAccumulator(str(run_dir / "tb" / run), size_guidance={"tensors": 0})
    accumulator.Reload()
    return {
        tag: [(e.step, float(make_ndarray(e.tensor_proto))) for e in accumulator.Tensors(tag)]
        for tag in accumulator.Tags()["tensors"]
    }


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("uninterrupted") / "run"
    result = run_fedrun([f"hydra.run.dir={run_dir}", *ARGS])
    assert result.returncode == 0, result.stderr
    return run_dir


def assert_same_as_reference(run_dir, reference):
    assert metric_lines(run_dir) == metric_lines(reference)
    resumed, uninterrupted = final_arrays(run_dir), final_arrays(reference)
    assert sorted(resumed) == sorted(uninterrupted)
    for name in resumed:
        np.testing.assert_array_equal(resumed[name], uninterrupted[name])
    records = metric_lines(reference)
    train = tensorboard_scalars(run_dir, "train")
    assert train["loss"] == [
        (r["round"], pytest.approx(r["train"]["loss"], rel=1e-6)) for r in records
    ]
    evaluated = [r["round"] for r in records if r.get("eval")]
    assert evaluated == list(range(4, records[-1]["round"] + 1, 4))
    assert [step for step, _ in tensorboard_scalars(run_dir, "eval")["accuracy"]] == evaluated
    for tag, points in {**train, **tensorboard_scalars(run_dir, "eval")}.items():
        steps = [step for step, _ in points]
        assert steps == sorted(set(steps)), f"{tag} has duplicate or unordered steps {steps}"


def test_sigkill_at_several_points_then_resume_matches_uninterrupted(reference, tmp_path):
    run_dir = tmp_path / "run"

    # 1. Killed half-way through writing the arrays of the second checkpoint (round 6).
    process, marker = launch(run_dir, "checkpoint-write", 2)
    kill_when_paused(process, marker)
    names = set(os.listdir(run_dir / "checkpoints"))
    assert {"round_000003.json", "round_000003.npz"} <= names and "round_000006.json" not in names
    assert any(name.startswith(".round_000006.npz") for name in names)  # the torn temporary file
    assert [r["round"] for r in metric_lines(run_dir)] == list(range(1, 7))

    # 2. Re-run: continues after round 3 (rounds 4-6 are dropped and rerun); killed after round 8.
    process, marker = launch(run_dir, "after-round", 8)
    kill_when_paused(process, marker)
    assert [r["round"] for r in metric_lines(run_dir)] == list(range(1, 9))
    assert sorted(os.listdir(run_dir / "checkpoints")) == [
        f"round_00000{r}.{ext}" for r in (3, 6) for ext in ("json", "npz")
    ]

    # 3. The newest checkpoint is damaged: skipped with a warning, the run continues after round 3.
    arrays = run_dir / "checkpoints" / "round_000006.npz"
    arrays.write_bytes(arrays.read_bytes()[:-100])
    result = run_fedrun([f"hydra.run.dir={run_dir}", *ARGS])
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    assert "skipping unusable checkpoint" in output and "round_000006.json" in output
    assert "resuming from" in output and "round_000003.json" in output
    assert_same_as_reference(run_dir, reference)


def test_sigint_checkpoints_exits_130_and_resumes(reference, tmp_path):
    run_dir = tmp_path / "run"
    process, _ = launch(run_dir, "sigint-after-round", 5)
    _, stderr = process.communicate(timeout=600)
    assert process.returncode == 130, stderr
    assert "stopped by SIGINT after round 5" in stderr and "round_000005.json" in stderr
    assert "Traceback" not in stderr
    assert [r["round"] for r in metric_lines(run_dir)] == list(range(1, 6))
    result = run_fedrun([f"hydra.run.dir={run_dir}", *ARGS])
    assert result.returncode == 0, result.stderr
    assert_same_as_reference(run_dir, reference)
