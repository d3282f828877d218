"""Round progress: a progress bar on a terminal, one line per round elsewhere.

`progress` in the config: `true` shows a bar (tqdm) when the output is a terminal
and the run has more than a few rounds, else a line per round (CI and Slurm logs
get lines); `lines` always prints lines; `bar` always draws the bar; `false`
prints nothing. The bar shows rounds done, seconds per round, the time left and
the latest train and evaluation accuracy.
"""

from __future__ import annotations

import sys
from typing import Any, Mapping, Optional, TextIO

from fedrun.data.progress import ProgressMode
from fedrun.training.callbacks import Callback, ProgressCallback, Record

# Runs of at most this many rounds print lines even on a terminal: a bar adds nothing.
FEW_ROUNDS = 3


class ProgressBarCallback(Callback):
    """A tqdm bar over the run's rounds.

    Args:
        total_rounds: The run's last round.
        stream: Where the bar is drawn (stderr by default).
    """

    def __init__(self, total_rounds: int, stream: Optional[TextIO] = None) -> None:
        self.total_rounds = total_rounds
        self.stream = stream or sys.stderr
        self._bar: Any = None

    def on_train_begin(self, start_round: int) -> None:
        from tqdm import tqdm

        # `initial` counts a resumed run's earlier rounds as done; tqdm's rate and
        # time left count only this process's rounds.
        self._bar = tqdm(
            total=self.total_rounds,
            initial=start_round - 1,
            unit="round",
            file=self.stream,
            dynamic_ncols=True,
            bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} rounds [{elapsed}<{remaining}, {rate_inv_fmt}{postfix}]",
        )

    def on_round_end(self, record: Record) -> None:
        self._bar.set_postfix(latest_accuracies(record), refresh=False)
        self._bar.update(1)

    def on_train_end(self, summary: Mapping[str, Any]) -> None:
        if self._bar is not None:
            self._bar.close()


def latest_accuracies(record: Record) -> dict[str, str]:
    """`{"train": "0.8123", "eval_federated": ...}`: a round's train and evaluation accuracies."""
    values = {"train": record.get("train", {}).get("accuracy")}
    for kind, metrics in record.get("eval", {}).items():
        if isinstance(metrics, Mapping):
            values[f"eval_{kind}"] = metrics.get("accuracy")
    return {kind: f"{value:.4f}" for kind, value in values.items() if isinstance(value, float)}


def progress_callback(
    mode: ProgressMode, total_rounds: int, stream: Optional[TextIO] = None
) -> Optional[Callback]:
    """The callback that shows progress as `mode` asks (None for `false`).

    Args:
        mode: The config's `progress`.
        total_rounds: The run's last round.
        stream: The terminal or log to write to (stdout for lines, stderr for the bar).
    """
    if mode is False:
        return None
    if mode == "lines":
        return ProgressCallback(total_rounds, stream)
    bar_stream = stream or sys.stderr
    wants_bar = mode == "bar" or (bar_stream.isatty() and total_rounds > FEW_ROUNDS)
    if wants_bar:
        return ProgressBarCallback(total_rounds, bar_stream)
    return ProgressCallback(total_rounds, stream)
