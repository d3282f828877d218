"""The run directory: where every output of a run goes, checked and locked before training.

One process writes a run directory at a time. `lock_run_directory` takes an
exclusive `flock` on `<run dir>/.fedrun.lock` and holds it for the life of the
run; the kernel releases it when the process ends in any way (`kill -9`
included), so a lock is never stale. A second process finds it taken and stops
before writing anything, naming the holder (the pid and host written into the
lock file). The file itself stays: deleting it would let a third process lock a
new file while the second still holds the old one.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from typing import Iterator

from fedrun.training.atomic import write_atomic

METRICS_FILE = "metrics.jsonl"
SUMMARY_FILE = "summary.json"
TENSORBOARD_DIR = "tb"
CHECKPOINTS_DIR = "checkpoints"
LOCK_FILE = ".fedrun.lock"


class RunDirectoryError(RuntimeError):
    """The run directory cannot hold the run's outputs.

    Attributes:
        path: The directory.
        problem: Why (the operating system's words).
    """

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"cannot write to the run directory {path}: {problem}")


class RunDirectoryLockedError(RunDirectoryError):
    """Another process holds the run directory's lock.

    Attributes:
        holder: What the lock file says of its holder (`pid 123 on host`), or
            `an unknown process` if it says nothing readable.
    """

    def __init__(self, path: str, holder: str) -> None:
        self.holder = holder
        super().__init__(
            path,
            f"it is in use by {holder} (another fedrun run writes there); wait for that run to end, "
            "or choose another directory (hydra.run.dir=...)",
        )


def prepare_run_directory(path: str) -> None:
    """Creates `path` if needed and proves a file can be written there atomically.

    Raises:
        RunDirectoryError: if not (read-only, not a directory, no space ...),
            before any training starts.
    """
    probe = os.path.join(
        path, f".fedrun-write-check.{os.getpid()}"
    )  # per process: another run may probe too
    try:
        os.makedirs(path, exist_ok=True)
        write_atomic(probe, b"ok\n")
        os.unlink(probe)
    except OSError as err:
        raise RunDirectoryError(path, err.strerror or str(err)) from None


def _holder(fd: int) -> str:
    """Who holds the lock, from the lock file's contents."""
    try:
        words = os.pread(fd, 256, 0).decode(errors="replace").split()
    except OSError:
        words = []
    if len(words) >= 2 and words[0].isdigit():
        return f"process {words[0]} on {words[1]}"
    return "an unknown process"


@contextlib.contextmanager
def lock_run_directory(path: str) -> Iterator[None]:
    """Holds the exclusive lock of run directory `path` (created if missing) while in the block.

    The lock is taken before anything else is written there (the directory itself
    and the lock file aside); the holder's pid and host are written into the
    lock file for the error a second process reports.

    Raises:
        RunDirectoryLockedError: if another process holds the lock.
        RunDirectoryError: if the directory or the lock file cannot be created.
    """
    try:
        os.makedirs(path, exist_ok=True)
        fd = os.open(os.path.join(path, LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        raise RunDirectoryError(path, err.strerror or str(err)) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunDirectoryLockedError(path, _holder(fd)) from None
        except OSError as err:  # a file system without locks
            raise RunDirectoryError(
                path, f"cannot lock {LOCK_FILE}: {err.strerror or err}"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the last descriptor releases the lock
