"""Atomic file writes: a file is either its old content or its new one, never half.

Every file fedrun rewrites in place (checkpoints, their manifests, a rewound
`metrics.jsonl`) is written to a temporary file in the same directory, flushed to
disk with `fsync`, renamed over the target (atomic on POSIX), and the directory is
fsynced so the rename itself survives a power cut. A failed write (a full disk, a
read-only directory) removes its temporary file and leaves the target untouched.
"""

from __future__ import annotations

import os

TEMP_SUFFIX = ".tmp"


def temp_path(path: str) -> str:
    """The temporary file a write of `path` goes through (one per process)."""
    directory, name = os.path.split(path)
    return os.path.join(directory, f".{name}.{os.getpid()}{TEMP_SUFFIX}")


def write_chunks(fd: int, data: bytes) -> None:
    """Writes all of `data` to `fd` (a write may be partial; an error raises OSError)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def fsync_directory(directory: str) -> None:
    """Makes renames and deletions in `directory` durable."""
    fd = os.open(directory or ".", os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: str, data: bytes, sync_directory: bool = True) -> None:
    """Replaces `path` with `data` atomically and durably.

    Args:
        path: The target file.
        data: Its new content.
        sync_directory: fsync the directory after the rename (callers writing
            several files may sync once at the end instead).

    Raises:
        OSError: if any step fails; the target then keeps its previous content
            and no temporary file is left behind.
    """
    temp = temp_path(path)
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        try:
            write_chunks(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise
    if sync_directory:
        fsync_directory(os.path.dirname(path))


def remove_stale_temporaries(directory: str) -> list[str]:
    """Deletes temporary files left by writes that were killed; returns their names."""
    removed = []
    for name in sorted(os.listdir(directory)):
        if name.startswith(".") and name.endswith(TEMP_SUFFIX):
            os.unlink(os.path.join(directory, name))
            removed.append(name)
    return removed
