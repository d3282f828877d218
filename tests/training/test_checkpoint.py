"""Checkpoint files: round trip, manifest, atomic writes, corruption and
mismatch detection, and a full disk (a tiny tmpfs when one can be mounted, else a
mocked write)."""

import collections
import errno
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from fedrun.config.errors import ConfigError
from fedrun.learning.templates import LearningAlgorithmState
from fedrun.models.functional import ModelWeights
from fedrun.training import atomic
from fedrun.training.checkpoint import (
    CheckpointError,
    list_checkpoints,
    load_checkpoint,
    nest_paths,
    save_checkpoint,
)


def make_state(scale=1.0, kernel_shape=(4, 3)):
    scale = float(scale)
    weights = ModelWeights(
        [tf.fill(kernel_shape, scale), tf.range(3, dtype=tf.float32) * scale], []
    )
    aggregator = collections.OrderedDict(
        value_sum_process=collections.OrderedDict(
            clip=tf.constant(0.1 * scale), count=tf.constant(7, tf.int64)
        ),
        weight_sum_process=(),
    )
    finalizer = {
        "learning_rate": tf.constant(1.0),
        "momentum": [tf.zeros(kernel_shape), tf.zeros([3])],
    }
    return LearningAlgorithmState(weights, (), (), aggregator, finalizer)


class StandInClientStates:
    """The per-client state interface (`state_dict` / `load_state_dict`)."""

    def __init__(self, arrays=None):
        self.arrays = dict(arrays or {})

    def state_dict(self):
        return dict(self.arrays)

    def load_state_dict(self, arrays):
        self.arrays = dict(arrays)


def assert_same_nest(a, b):
    tf.nest.assert_same_structure(a, b)
    for x, y in zip(tf.nest.flatten(a), tf.nest.flatten(b)):
        assert np.asarray(x).dtype == np.asarray(y).dtype
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


# ------------------------------------------------------------------ structure
def test_nest_paths_follow_tf_nest_order():
    paths = nest_paths(make_state())
    assert len(paths) == len(tf.nest.flatten(make_state()))
    assert paths[:2] == ["global_model_weights/trainable/0", "global_model_weights/trainable/1"]
    assert "aggregator/value_sum_process/clip" in paths and "finalizer/momentum/1" in paths


def test_manifest_lists_every_leaf_and_a_checksum(tmp_path):
    path = save_checkpoint(str(tmp_path), 5, make_state(), config={"seed": 0})
    manifest = json.loads(open(path).read())
    assert manifest["round"] == 5 and manifest["arrays"] == "round_000005.npz"
    assert [e["path"] for e in manifest["state"]] == nest_paths(make_state())
    first = manifest["state"][0]
    assert first["shape"] == [4, 3] and np.dtype(first["dtype"]) == np.float32
    assert (
        len(manifest["sha256"]) == 64
        and manifest["client_state"] is None
        and manifest["config"] == {"seed": 0}
    )
    with np.load(tmp_path / "round_000005.npz", allow_pickle=False) as npz:
        assert sorted(npz.files) == sorted(e["member"] for e in manifest["state"])


# ------------------------------------------------------------------ numbers
def test_round_trip_restores_every_leaf_exactly(tmp_path):
    state = make_state(scale=0.3)
    path = save_checkpoint(str(tmp_path), 3, state)
    restored = load_checkpoint(path, make_state())
    assert restored.round_num == 3 and restored.client_state is None
    assert_same_nest(restored.state, state)
    assert isinstance(restored.state.global_model_weights, ModelWeights)
    assert isinstance(tf.nest.flatten(restored.state)[0], tf.Tensor)


def test_client_state_is_saved_and_restored(tmp_path):
    clients = StandInClientStates(
        {"control/a": np.full([3], 2.0, np.float32), "control/b": np.arange(4, dtype=np.int32)}
    )
    path = save_checkpoint(str(tmp_path), 1, make_state(), clients.state_dict())
    restored = load_checkpoint(path, make_state(), has_client_state=True)
    assert sorted(restored.client_state) == ["control/a", "control/b"]
    np.testing.assert_array_equal(restored.client_state["control/b"], np.arange(4))


# ------------------------------------------------------------------ damage
@pytest.mark.parametrize(
    "damage, message",
    [
        (
            lambda d: (d / "round_000004.npz").write_bytes(
                (d / "round_000004.npz").read_bytes()[:100]
            ),
            "checksum",
        ),
        (lambda d: (d / "round_000004.npz").unlink(), "cannot read the arrays"),
        (
            lambda d: (d / "round_000004.json").write_text('{"format": "fedrun-chec'),
            "not valid JSON",
        ),
        (lambda d: (d / "round_000004.json").write_text("[]"), "not a fedrun checkpoint"),
    ],
    ids=["truncated-arrays", "missing-arrays", "truncated-manifest", "foreign-manifest"],
)
def test_damaged_checkpoint_is_reported_with_its_file(tmp_path, damage, message):
    path = save_checkpoint(str(tmp_path), 4, make_state())
    damage(tmp_path)
    with pytest.raises(CheckpointError, match=message) as caught:
        load_checkpoint(path, make_state())
    assert "round_000004" in caught.value.path


def test_changed_shape_is_a_config_error_naming_the_leaf(tmp_path):
    path = save_checkpoint(str(tmp_path), 2, make_state())
    with pytest.raises(
        ConfigError, match=r"global_model_weights/trainable/0.*shape \[4, 3\].*\[4, 5\]"
    ) as caught:
        load_checkpoint(path, make_state(kernel_shape=(4, 5)))
    assert caught.value.path == "resume"


def test_client_state_mismatch_is_a_config_error(tmp_path):
    path = save_checkpoint(str(tmp_path), 2, make_state())
    with pytest.raises(ConfigError, match="per-client state"):
        load_checkpoint(path, make_state(), has_client_state=True)


# ------------------------------------------------------------------ full disk
def fill(directory):
    fd = os.open(os.path.join(directory, "filler"), os.O_WRONLY | os.O_CREAT)
    try:
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError as err:
        assert err.errno == errno.ENOSPC
    finally:
        os.close(fd)


def assert_full_disk_keeps_old_checkpoint(directory):
    first = save_checkpoint(directory, 1, make_state(1.0))
    fill(directory)
    with pytest.raises(CheckpointError, match="No space left on device"):
        save_checkpoint(directory, 2, make_state(2.0))
    assert [r for r, _ in list_checkpoints(directory)] == [1]
    assert not [n for n in os.listdir(directory) if n.endswith(atomic.TEMP_SUFFIX)]
    assert_same_nest(load_checkpoint(first, make_state()).state, make_state(1.0))


def test_full_tmpfs_keeps_the_previous_checkpoint(tmpfs):
    assert_full_disk_keeps_old_checkpoint(str(tmpfs("256k")))


def test_mocked_enospc_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    def no_space(fd, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    first = save_checkpoint(str(tmp_path), 1, make_state(1.0))
    monkeypatch.setattr(atomic, "write_chunks", no_space)
    with pytest.raises(CheckpointError, match="No space left on device"):
        save_checkpoint(str(tmp_path), 2, make_state(2.0))
    assert sorted(os.listdir(tmp_path)) == ["round_000001.json", "round_000001.npz"]
    assert_same_nest(load_checkpoint(first, make_state()).state, make_state(1.0))
