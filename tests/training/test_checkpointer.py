"""The checkpoint policy: save when due, keep the newest K, clean up after kills."""

import os

import numpy as np

from fedrun.training import atomic
from fedrun.training.checkpoint import (
    CheckpointConfig,
    list_checkpoints,
    load_checkpoint,
    save_checkpoint,
)
from fedrun.training.checkpointer import Checkpointer, prune_checkpoints
from tests.training.test_checkpoint import StandInClientStates, make_state


def test_checkpointer_saves_when_due_and_keeps_the_newest(tmp_path):
    checkpointer = Checkpointer(str(tmp_path), CheckpointConfig(every=2, keep=2))
    for round_num in range(1, 8):
        if checkpointer.is_due(round_num, last_round=7):
            checkpointer.save(round_num, make_state(round_num))
    assert [r for r, _ in list_checkpoints(str(tmp_path))] == [6, 7]
    assert sorted(os.listdir(tmp_path)) == [
        "round_000006.json",
        "round_000006.npz",
        "round_000007.json",
        "round_000007.npz",
    ]
    assert checkpointer.summary()["saved"] == 4


def test_prune_removes_orphans_and_temporaries(tmp_path):
    save_checkpoint(str(tmp_path), 1, make_state())
    (tmp_path / "round_000002.npz").write_bytes(b"half")  # killed before its manifest
    (tmp_path / f".round_000003.npz.{os.getpid()}{atomic.TEMP_SUFFIX}").write_bytes(b"x")
    prune_checkpoints(str(tmp_path), keep=5)
    assert sorted(os.listdir(tmp_path)) == ["round_000001.json", "round_000001.npz"]


def test_per_client_state_goes_into_each_checkpoint(tmp_path):
    clients = StandInClientStates({"scaffold/client_7": np.full([3], 0.5, np.float32)})
    checkpointer = Checkpointer(
        str(tmp_path), CheckpointConfig(every=1, keep=1), client_states=clients
    )
    path = checkpointer.save(1, make_state())
    restored = load_checkpoint(path, make_state(), has_client_state=True)
    np.testing.assert_array_equal(restored.client_state["scaffold/client_7"], np.full([3], 0.5))
    assert checkpointer.save(1, make_state()) == path  # saving a round twice writes once
    assert len(checkpointer.write_seconds) == 1
