"""Removing the steps a killed process logged to TensorBoard after its last checkpoint.

A resumed run logs those rounds again. TensorBoard's own remedy is the
`SessionLog.START` event the TensorBoard callback writes when a process starts:
TensorBoard's server then drops earlier events at or after that step. Not every
reader honours it (the legacy `EventAccumulator` keeps TF2 tensor summaries, other
tools ignore it), so the event files themselves are rewound too: each file is
rewritten, atomically, without events at or after the restart step (and without
a record torn by the kill).
"""

from __future__ import annotations

import logging
import os

from fedrun.training.atomic import fsync_directory, temp_path

logger = logging.getLogger(__name__)


def _event_files(logdir: str) -> list[str]:
    found = []
    for directory, _, names in os.walk(logdir):
        found += [
            os.path.join(directory, n)
            for n in sorted(names)
            if "tfevents" in n and not n.startswith(".")
        ]
    return found


def rewind_event_file(path: str, start_step: int) -> int:
    """Rewrites one event file without events of step >= `start_step`; returns how many went."""
    import tensorflow as tf
    from tensorboard.backend.event_processing.event_file_loader import RawEventFileLoader
    from tensorboard.compat.proto import event_pb2

    kept, dropped = [], 0
    for record in RawEventFileLoader(path).Load():  # stops quietly at a torn last record
        event = event_pb2.Event.FromString(record)
        if event.WhichOneof("what") in ("summary", "session_log") and event.step >= start_step:
            dropped += 1
        else:
            kept.append(record)
    with open(path, "rb") as f:
        size = f.seek(0, os.SEEK_END)
    intact = sum(len(r) + 16 for r in kept) == size  # 16 bytes of framing per TFRecord
    if dropped == 0 and intact:
        return 0
    temp = temp_path(path)
    with tf.io.TFRecordWriter(temp) as writer:
        for record in kept:
            writer.write(record)
    with open(temp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(temp, path)
    fsync_directory(os.path.dirname(path))
    return dropped


def rewind_event_files(logdir: str, start_step: int) -> int:
    """Rewinds every event file under `logdir` to before `start_step`; returns events dropped."""
    if not os.path.isdir(logdir):
        return 0
    dropped = sum(rewind_event_file(path, start_step) for path in _event_files(logdir))
    if dropped:
        logger.info(
            "dropped %d TensorBoard events of rounds >= %d from %s", dropped, start_step, logdir
        )
    return dropped
