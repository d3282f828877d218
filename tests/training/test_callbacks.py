"""TensorBoard callback: a process marks its first step with SessionLog.START,
which makes TensorBoard's server drop what an earlier, killed process logged there."""

import time

from tensorboard.backend.event_processing.plugin_event_accumulator import EventAccumulator
from tensorboard.util.tensor_util import make_ndarray

from fedrun.training.callbacks import TensorBoardCallback


def record(round_num, loss):
    return {"round": round_num, "train": {"loss": loss}, "clients_failed": 0, "round_seconds": 0.1}


def test_restart_marker_purges_orphaned_steps(tmp_path):
    killed = TensorBoardCallback(str(tmp_path))
    killed.on_train_begin(1)
    for round_num in (1, 2, 3):
        killed.on_round_end(record(round_num, 10.0 + round_num))
    killed.on_train_end({})
    time.sleep(1.1)  # event files sort by creation second; a resumed process starts seconds later
    resumed = TensorBoardCallback(str(tmp_path))
    resumed.on_train_begin(3)  # the checkpoint was after round 2
    resumed.on_round_end(record(3, 3.0))
    resumed.on_train_end({})
    accumulator = EventAccumulator(str(tmp_path / "train"), size_guidance={"tensors": 0})
    accumulator.Reload()
    points = [(e.step, float(make_ndarray(e.tensor_proto))) for e in accumulator.Tensors("loss")]
    assert points == [(1, 11.0), (2, 12.0), (3, 3.0)]
    assert [e.step for e in accumulator.Tensors("clients_failed")] == [1, 2, 3]
