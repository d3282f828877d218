"""An on-disk cache of computed client splits, keyed by a hash of data + config.

A split (which examples each client holds) is a pure function of the data and
the split's parameters, so it is stored once under
`$FEDRUN_CACHE_DIR/partitions/<key>.npz` (default `~/.cache/fedrun`), where `key`
hashes a fingerprint of the data together with every parameter that shapes the
split. A later run with the same data and parameters loads the same clients
instead of recomputing them. Entries are plain `.npz` arrays (never pickles),
written atomically; an unreadable entry counts as a miss and is rewritten, and a
cache directory that cannot be written only costs the recomputation.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Optional

import numpy as np

CACHE_ENV = "FEDRUN_CACHE_DIR"
FORMAT_VERSION = 1
_CHUNK = 1 << 22


def cache_dir() -> Path:
    """The cache root: `$FEDRUN_CACHE_DIR`, else `~/.cache/fedrun`."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "fedrun")


def fingerprint_arrays(*arrays: np.ndarray) -> str:
    """A content hash of arrays (values, dtypes and shapes)."""
    digest = hashlib.sha256()
    for array in arrays:
        contiguous = np.ascontiguousarray(array)
        digest.update(f"{contiguous.dtype.str}{contiguous.shape}".encode())
        digest.update(memoryview(contiguous).cast("B"))
    return digest.hexdigest()


def fingerprint_files(paths: Iterable[str]) -> str:
    """A content hash of files, in the order given."""
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as f:
            while chunk := f.read(_CHUNK):
                digest.update(chunk)
        digest.update(b"\0")
    return digest.hexdigest()


def cache_key(parts: Mapping[str, Any]) -> str:
    """A stable hash of JSON-serializable key parts."""
    text = json.dumps({"format": FORMAT_VERSION, **parts}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class PartitionCache:
    """Split arrays stored by key under `directory/partitions`.

    Args:
        directory: The cache root (default `cache_dir()`).
    """

    def __init__(self, directory: Optional[Path] = None) -> None:
        self.directory = Path(directory or cache_dir()) / "partitions"

    def path_for(self, key: str) -> Path:
        return self.directory / f"{key}.npz"

    def load(self, key: str) -> Optional[dict[str, np.ndarray]]:
        """The arrays stored under `key`, or None on a miss or an unreadable entry."""
        path = self.path_for(key)
        if not path.exists():
            return None
        try:
            with np.load(path, allow_pickle=False) as stored:
                return {name: stored[name] for name in stored.files}
        except (OSError, ValueError, zipfile.BadZipFile, EOFError):
            return None

    def store(self, key: str, arrays: Mapping[str, np.ndarray]) -> None:
        """Writes `arrays` under `key` (atomically; warns if the cache is not writable)."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=self.directory, suffix=".npz.tmp")
            with os.fdopen(handle, "wb") as f:
                np.savez(f, **arrays)
            os.replace(temporary, self.path_for(key))
        except OSError as err:
            warnings.warn(
                f"partition cache {self.directory} is not writable ({err}); splits are recomputed each run"
            )

    def get_or_compute(
        self,
        key: str,
        compute: Callable[[], dict[str, np.ndarray]],
        is_valid: Callable[[Mapping[str, np.ndarray]], bool] = lambda _: True,
    ) -> dict[str, np.ndarray]:
        """The stored arrays for `key` if present and valid, else `compute()` (then stored)."""
        stored = self.load(key)
        if stored is not None and is_valid(stored):
            return stored
        arrays = compute()
        self.store(key, arrays)
        return arrays
