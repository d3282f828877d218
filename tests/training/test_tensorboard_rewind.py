"""Rewinding TensorBoard event files: steps at or after the restart go, and a
record torn by a kill is dropped; readers then see each step once."""

import os
import time

import tensorflow as tf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from fedrun.training.tensorboard_rewind import rewind_event_files


def write_steps(logdir, steps):
    writer = tf.summary.create_file_writer(str(logdir))
    with writer.as_default():
        for step in steps:
            tf.summary.scalar("loss", 1.0 / step, step=step)
    writer.close()


def steps(logdir):
    accumulator = EventAccumulator(str(logdir), size_guidance={"tensors": 0})
    accumulator.Reload()
    return [event.step for event in accumulator.Tensors("loss")]


def test_steps_from_the_restart_on_are_removed(tmp_path):
    write_steps(tmp_path, range(1, 7))
    assert rewind_event_files(str(tmp_path), 4) == 3
    assert steps(tmp_path) == [1, 2, 3]
    assert rewind_event_files(str(tmp_path), 4) == 0


def test_torn_last_record_is_dropped(tmp_path):
    write_steps(tmp_path, range(1, 4))
    (event_file,) = [p for p in tmp_path.iterdir() if "tfevents" in p.name]
    with open(event_file, "r+b") as f:
        f.truncate(os.path.getsize(event_file) - 5)
    rewind_event_files(str(tmp_path), 10)
    time.sleep(1.1)  # event files sort by creation second; a resumed process starts seconds later
    write_steps(tmp_path, [3])  # the resumed process logs the torn step again
    assert steps(tmp_path) == [1, 2, 3]


def test_missing_logdir_is_nothing_to_do(tmp_path):
    assert rewind_event_files(str(tmp_path / "tb"), 1) == 0
