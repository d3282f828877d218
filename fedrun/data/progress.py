"""Progress of long data preparation: parsing files, reading every client's size.

A step reports how far it is (`advance(n)`); what the user sees follows the run's
`progress` setting, as the round progress does: a tqdm bar on a terminal, lines
elsewhere (CI and Slurm logs), nothing for `false`. Steps that finish within
`delay` seconds show nothing at all, so quick loads stay silent and only the
slow ones (a million clients' sizes, 60,000 CSV rows on a loaded machine) speak.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
import time
from typing import Callable, Iterator, Literal, Optional, Sequence, TextIO, TypeVar, Union

ProgressMode = Union[bool, Literal["bar", "lines"]]
Advance = Callable[[int], None]
T = TypeVar("T")

# Lines mode repeats a line at most this often while a step runs.
LINE_INTERVAL_S = 10.0


@dataclasses.dataclass(frozen=True)
class DataProgress:
    """How data preparation reports its progress.

    Attributes:
        mode: The run's `progress` setting: true (a bar on a terminal, else lines),
            `bar`, `lines` or false.
        delay: Seconds a step runs before anything is shown.
        stream: Where progress is written (the bar: stderr; lines: stdout).
    """

    mode: ProgressMode = False
    delay: float = 2.0
    stream: Optional[TextIO] = None

    @contextlib.contextmanager
    def task(self, what: str, total: int, unit: str) -> Iterator[Advance]:
        """Reports a step of `total` units while the block runs.

        Args:
            what: What the step does ("reading mnist_train.csv").
            total: Units of work in the step.
            unit: The unit's name ("rows", "clients").

        Yields:
            `advance(n)`: records `n` more units done.
        """
        if self.mode is False:
            yield _ignore
            return
        if self._wants_bar():
            with _bar(what, total, unit, self.delay, self.stream or sys.stderr) as advance:
                yield advance
            return
        lines = _Lines(what, total, unit, self.delay, self.stream or sys.stdout)
        yield lines.advance
        lines.finish()

    def track(self, items: Sequence[T], what: str, unit: str) -> Iterator[T]:
        """`items` one by one, each counted as one unit of the step `what`."""
        with self.task(what, len(items), unit) as advance:
            for item in items:
                yield item
                advance(1)

    def _wants_bar(self) -> bool:
        if self.mode == "bar":
            return True
        stream = self.stream or sys.stderr
        return self.mode is True and stream.isatty()


QUIET = DataProgress(False)
"""Reports nothing (tests, Ray workers rebuilding data the driver already reported)."""


def _ignore(count: int) -> None:
    del count


@contextlib.contextmanager
def _bar(what: str, total: int, unit: str, delay: float, stream: TextIO) -> Iterator[Advance]:
    from tqdm import tqdm

    # 1.2M rather than 1234567 for large counts; small counts stay exact.
    large = total >= 100_000
    with tqdm(
        total=total, desc=what, unit=f" {unit}", unit_scale=large, delay=delay, file=stream
    ) as bar:
        yield bar.update


class _Lines:
    """`data: what: done/total unit (p%), t s` now and then, and once at the end."""

    def __init__(self, what: str, total: int, unit: str, delay: float, stream: TextIO) -> None:
        self.what, self.total, self.unit, self.delay, self.stream = what, total, unit, delay, stream
        self.done = 0
        self.start = self.last_line = time.monotonic()

    def advance(self, count: int) -> None:
        self.done += count
        now = time.monotonic()
        if now - self.start >= self.delay and now - self.last_line >= LINE_INTERVAL_S:
            share = 100.0 * self.done / self.total if self.total else 100.0
            self._print(f"{self.done:,}/{self.total:,} {self.unit} ({share:.0f}%)", now)
            self.last_line = now

    def finish(self) -> None:
        now = time.monotonic()
        if now - self.start >= self.delay:
            self._print(f"{self.done:,} {self.unit} done", now)

    def _print(self, status: str, now: float) -> None:
        print(
            f"data: {self.what}: {status}, {now - self.start:.1f} s", file=self.stream, flush=True
        )
