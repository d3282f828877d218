"""`fedrun.run`: `build` makes a run's objects from one spec, the aggregator tree once
per build; `run` and its outputs under faults: an unwritable run directory is
refused before anything is built; a disk that fills up mid-run stops it with a
clear error, loses nothing already written, and the run resumes once there is
space, ending exactly as an uninterrupted run."""

import json
import os

import numpy as np
import pytest

from fedrun.aggregators.sum import SumFactory
from fedrun.app.schema import validate
from fedrun.cli import compose_config
from fedrun.run import build, run
from fedrun.training.checkpoint import CheckpointError, list_checkpoints
from fedrun.training.run_directory import RunDirectoryError

ROUNDS = 6


def plain(mnist5k_file, **overrides):
    settings = {
        "rounds": ROUNDS,
        "dataset.path": str(mnist5k_file),
        "dataset.num_clients": 10,
        "dataset.central_test_size": 50,
        "clients_per_round": 3,
        "eval_every": 0,
        "progress": False,
        "checkpoint.every": 2,
        **overrides,
    }
    return compose_config([f"{k}={v}" for k, v in settings.items()])


def records(run_dir):
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k != "round_seconds"} for line in lines]


def final_weights(run_dir):
    newest = list_checkpoints(str(run_dir / "checkpoints"))[-1][1]
    with np.load(newest[: -len(".json")] + ".npz") as npz:
        return [npz[name] for name in sorted(npz.files)]


class CountingSum(SumFactory):
    """A sum factory counting its constructions (named from YAML by `_target_`)."""

    constructed = 0

    def __init__(self) -> None:
        super().__init__()
        type(self).constructed += 1


def test_build_constructs_the_aggregator_tree_once_per_build(mnist5k_file):
    counting = {
        "allowed_targets": "[tests.]",
        "+aggregator.value_sum._target_": "tests.test_run.CountingSum",
    }
    spec = validate(plain(mnist5k_file, **counting))
    assert spec.aggregator.children[0][1].target is CountingSum
    before = CountingSum.constructed  # validate parses the tree and constructs nothing
    first = build(spec)
    assert CountingSum.constructed == before + 1
    second = build(spec)
    assert CountingSum.constructed == before + 2
    assert first.process is not second.process and first.spec is second.spec is spec


@pytest.fixture(scope="module")
def reference(mnist5k_file, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("reference")
    run(plain(mnist5k_file), str(run_dir))
    return run_dir


def test_directory_below_a_file_is_refused(mnist5k_file, tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(RunDirectoryError, match="Not a directory"):
        run(plain(mnist5k_file), str(tmp_path / "file" / "run"))


def test_read_only_directory_is_refused(mnist5k_file, tmpfs):
    read_only = tmpfs("64k", read_only=True)
    with pytest.raises(RunDirectoryError, match="Read-only file system"):
        run(plain(mnist5k_file), str(read_only))
    assert os.listdir(read_only) == []


def test_full_disk_loses_nothing_and_the_run_resumes(mnist5k_file, tmpfs, reference):
    disk = tmpfs("2m")
    run_dir = disk / "run"
    filler = disk / "filler"
    free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
    filler.write_bytes(b"\0" * (free - 60 * 1024))  # room for the logs and one checkpoint
    with pytest.raises((CheckpointError, OSError), match="No space left on device"):
        run(plain(mnist5k_file), str(run_dir))
    saved = [r for r, _ in list_checkpoints(str(run_dir / "checkpoints"))]
    assert saved and saved[-1] < ROUNDS
    logged = records(run_dir)  # every line written is whole
    assert logged == records(reference)[: len(logged)]
    filler.unlink()
    run(plain(mnist5k_file), str(run_dir))
    assert records(run_dir) == records(reference)
    for have, want in zip(final_weights(run_dir), final_weights(reference)):
        np.testing.assert_array_equal(have, want)
