"""Dry runs that read types without fixing what real rounds compile for.

A learning process derives its `type_signature` by running one round on a tiny
made-up cohort. Trainers fix their compiled shapes (clients per call, batch size)
on their first call, so that round must not count as the first: inside `dry_run()`
a trainer runs an uncached function instead.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Iterator

_LOCAL = threading.local()


@contextlib.contextmanager
def dry_run() -> Iterator[None]:
    """Marks the block as a dry run (nests)."""
    depth = getattr(_LOCAL, "depth", 0)
    _LOCAL.depth = depth + 1
    try:
        yield
    finally:
        _LOCAL.depth = depth


def is_dry_run() -> bool:
    """Whether the calling thread is inside `dry_run()`."""
    return getattr(_LOCAL, "depth", 0) > 0


__all__ = ["dry_run", "is_dry_run"]
