"""What the loop does with each round's record: TensorBoard, JSONL, progress.

A round record is a plain dict:
`{round, train, eval?, aggregator, finalizer, clients, round_seconds, ...}`.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any, Mapping, Optional, TextIO

from fedrun.training.metrics import flatten

Record = dict[str, Any]


class Callback:
    """Hooks called by the training loop (all optional).

    Attributes:
        stop_training: Set to true (in `on_round_end`) to end the run after the
            current round.
    """

    stop_training: bool = False

    def on_train_begin(self, start_round: int) -> None:
        """Before the first round of this process (after a resume, too)."""

    def on_round_trained(self, record: Record, global_weights: Any) -> None:
        """After every round's training, with the new global model weights, before
        any callback's `on_round_end`: where a callback adds to the record
        (evaluation adds `eval`)."""

    def on_round_end(self, record: Record) -> None:
        """After every round with that round's record."""

    def on_train_end(self, summary: Mapping[str, Any]) -> None:
        """After the last round."""


class TensorBoardCallback(Callback):
    """Scalars every round, in three runs: `train`, `eval`, `eval_centralized`
    (and `eval_train`, the global model on clients' training data, when evaluated).

    Train and eval share tag names (`loss`, `accuracy` ...) so TensorBoard overlays
    them; aggregator and finalizer measurements go to the `train` run under
    `aggregator/...` and `finalizer/...`.

    Each process marks the step it starts at with a `SessionLog.START` event, as
    TensorFlow's own training loops did: a TensorBoard server that already loaded
    steps at or after it from an earlier, killed process then drops them (on disk,
    `fedrun.training.tensorboard_rewind` removes them when the run resumes).
    """

    def __init__(self, logdir: str) -> None:
        import tensorflow as tf

        self._tf = tf
        self.logdir = logdir
        self._writers = {
            name: tf.summary.create_file_writer(os.path.join(logdir, name))
            for name in ("train", "eval", "eval_centralized")
        }

    def on_train_begin(self, start_round: int) -> None:
        from tensorboard.compat.proto import event_pb2

        event = event_pb2.Event(
            wall_time=time.time(),
            step=start_round,
            session_log=event_pb2.SessionLog(status=event_pb2.SessionLog.START),
        )
        for writer in self._writers.values():
            # `tf.summary` has no call for session logs; ImportEvent appends a raw Event.
            self._tf.raw_ops.ImportEvent(writer=writer._resource, event=event.SerializeToString())
            writer.flush()

    def _write(self, run: str, scalars: Mapping[str, Any], step: int) -> None:
        if run not in self._writers:
            self._writers[run] = self._tf.summary.create_file_writer(os.path.join(self.logdir, run))
        with self._writers[run].as_default(step=step):
            for name, value in flatten(scalars):
                self._tf.summary.scalar(name, value)

    def on_round_end(self, record: Record) -> None:
        step = record["round"]
        train = dict(record.get("train", {}))
        for key in ("aggregator", "finalizer", "client_work"):
            if record.get(key):
                train[key] = record[key]
        if "clients_failed" in record:
            train["clients_failed"] = record["clients_failed"]
        train["round_seconds"] = record["round_seconds"]
        self._write("train", train, step)
        evaluation = record.get("eval", {})
        if evaluation.get("federated"):
            self._write("eval", evaluation["federated"], step)
        if evaluation.get("centralized"):
            self._write("eval_centralized", evaluation["centralized"], step)
        if evaluation.get("personalization"):
            self._write("eval", {"personalization": evaluation["personalization"]}, step)
        if evaluation.get("train"):
            self._write("eval_train", evaluation["train"], step)
        if evaluation.get("backdoor"):
            self._write("eval", {"backdoor": evaluation["backdoor"]}, step)
        for writer in self._writers.values():
            writer.flush()

    def on_train_end(self, summary: Mapping[str, Any]) -> None:
        for writer in self._writers.values():
            writer.close()


class JsonlCallback(Callback):
    """Appends each round's record as one JSON line to `metrics.jsonl`."""

    def __init__(self, path: str) -> None:
        self.path = path

    def on_round_end(self, record: Record) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record, sort_keys=False) + "\n")


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


class ProgressCallback(Callback):
    """One line per round: loss, accuracy, evaluation and time."""

    def __init__(self, total_rounds: int, stream: Optional[TextIO] = None) -> None:
        self.total_rounds = total_rounds
        self.stream = stream or sys.stdout
        self._start = time.perf_counter()

    def on_train_begin(self, start_round: int) -> None:
        self._start = time.perf_counter()

    def on_round_end(self, record: Record) -> None:
        train = record.get("train", {})
        parts = [f"round {record['round']:>{len(str(self.total_rounds))}}/{self.total_rounds}"]
        parts += [f"train {k} {_fmt(train[k])}" for k in ("loss", "accuracy") if k in train]
        for kind, values in record.get("eval", {}).items():
            if "accuracy" in values:
                parts.append(f"{kind} accuracy {_fmt(values['accuracy'])}")
        parts.append(f"{record['round_seconds']:.2f}s")
        print(" | ".join(parts), file=self.stream, flush=True)
