"""Stopping a run cleanly on SIGINT (Ctrl-C) or SIGTERM (schedulers, `kill`).

The first signal only raises a flag: the loop finishes the round in progress,
saves a checkpoint and stops with `RunInterrupted`, and the command exits with
128 + the signal number (130 for SIGINT, 143 for SIGTERM). A second signal stops
at once (KeyboardInterrupt / the default action); the last checkpoint is still
there to resume from.
"""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType, TracebackType
from typing import Any, Optional

HANDLED = (signal.SIGINT, signal.SIGTERM)


class RunInterrupted(Exception):
    """The run stopped after a round because it was asked to.

    Attributes:
        round_num: The last round completed.
        checkpoint: The checkpoint saved for it (None if checkpoints are off).
        signal_number: The signal that asked.
    """

    def __init__(self, round_num: int, checkpoint: Optional[str], signal_number: int) -> None:
        self.round_num = round_num
        self.checkpoint = checkpoint
        self.signal_number = signal_number
        saved = (
            f"checkpoint saved to {checkpoint}"
            if checkpoint
            else "checkpoints are disabled, nothing saved"
        )
        name = signal.Signals(signal_number).name
        super().__init__(f"stopped by {name} after round {round_num}; {saved}")

    @property
    def exit_code(self) -> int:
        return 128 + self.signal_number


class StopRequest:
    """A flag the loop polls between rounds; set by SIGINT/SIGTERM while installed.

    Use as a context manager around the training loop. Outside the main thread
    (where Python cannot install handlers) it installs nothing and never fires.
    """

    def __init__(self) -> None:
        self.signal_number: Optional[int] = None
        self._previous: dict[int, Any] = {}

    @property
    def requested(self) -> bool:
        return self.signal_number is not None

    def _handle(self, signal_number: int, frame: Optional[FrameType]) -> None:
        if self.requested:  # asked twice: stop now
            self._restore()
            if signal_number == signal.SIGINT:
                raise KeyboardInterrupt
            signal.raise_signal(signal_number)
            return
        self.signal_number = signal_number
        name = signal.Signals(signal_number).name
        print(
            f"fedrun: {name} received; finishing this round and saving a checkpoint (send it again to stop at once)",
            file=sys.stderr,
            flush=True,
        )

    def _restore(self) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous = {}

    def __enter__(self) -> "StopRequest":
        if threading.current_thread() is threading.main_thread():
            for number in HANDLED:
                self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(
        self, exc_type: Optional[type], exc: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        self._restore()
