"""A bounded cache of prepared clients, for client data read from files.

File-backed client data (`StoredClientData`: HDF5, SQLite, Hugging Face) reads a
client from its file and converts it (decoding, reshaping, checking) on every
`arrays_for`, and a round's cohort pool asks for each of its clients; a client
sampled in many rounds would be read and converted again every time.
`CachedClientData` keeps the converted arrays of recently used clients, dropping
the least recently used first, within a byte bound that several splits may share
(one `ClientArraysCache`). Only what a client holds is cached: the order its
examples are trained in is drawn per round from the arrays, not stored with them.

Arrays handed out are read-only, cached or not, so that no caller can change a
cached client for every later round, and code that would write into them fails
the same way whatever the bound.
"""

from __future__ import annotations

import collections
import dataclasses
import threading
from typing import Hashable, Optional

import numpy as np

from fedrun.data.client_data import Arrays, ClientData, ClientDataView, FederatedData


def held_bytes(arrays: Arrays) -> int:
    """Bytes that keeping `arrays` keeps alive: a view counts the whole array it
    views (a slice of a larger array holds all of it), each such array once."""
    roots: dict[int, int] = {}
    for array in arrays.values():
        root = array
        while isinstance(root.base, np.ndarray):
            root = root.base
        roots[id(root)] = max(root.nbytes, array.nbytes)
    return sum(roots.values())


def _read_only(arrays: Arrays) -> Arrays:
    for array in arrays.values():
        array.flags.writeable = False
    return arrays


class ClientArraysCache:
    """Prepared clients' arrays within a byte bound, least recently used dropped first.

    A client larger than the whole bound is not kept. Safe to share between
    threads and between the client data of several splits.

    Args:
        max_bytes: The most bytes (`held_bytes`) kept at once; 0 keeps nothing.

    Raises:
        ValueError: for a negative bound.
    """

    def __init__(self, max_bytes: int) -> None:
        if max_bytes < 0:
            raise ValueError(f"a cache bound must be at least 0 bytes, got {max_bytes}")
        self._max_bytes = int(max_bytes)
        self._entries: collections.OrderedDict[Hashable, tuple[Arrays, int]] = (
            collections.OrderedDict()
        )
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def max_bytes(self) -> int:
        """The bound."""
        return self._max_bytes

    @property
    def used_bytes(self) -> int:
        """Bytes kept now."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable, use: bool = True) -> Optional[Arrays]:
        """The arrays kept under `key`, or None.

        Args:
            key: The client's key.
            use: Count this as a use, making the client the most recently used;
                False only looks (asking a size should not keep a client).
        """
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if use:
                self._entries.move_to_end(key)
            return entry[0]

    def put(self, key: Hashable, arrays: Arrays) -> None:
        """Keeps `arrays` under `key` if they fit the bound, dropping the least
        recently used clients to make room."""
        size = held_bytes(arrays)
        if size > self._max_bytes:
            return
        with self._lock:
            previous = self._entries.pop(key, None)
            if previous is not None:
                self._bytes -= previous[1]
            while self._bytes + size > self._max_bytes:
                _, (_, dropped) = self._entries.popitem(last=False)
                self._bytes -= dropped
            self._entries[key] = (arrays, size)
            self._bytes += size


class CachedClientData(ClientDataView):
    """Another client data's clients, each read once and then served from a cache.

    Cohort pools and per-client datasets are built from the cached arrays (the
    default `ClientData` implementations), so wrap only data whose `arrays_for`
    does real work; in-memory sources already share their arrays without copying.

    Args:
        inner: The client data read on a miss.
        cache: Where prepared clients are kept; may be shared with other splits
            (each wrapper keys its clients apart).
    """

    def __init__(self, inner: ClientData, cache: ClientArraysCache) -> None:
        super().__init__(inner)
        self._cache = cache
        # Unique per wrapper, so splits sharing a cache (train and test hold the
        # same client ids) never see each other's clients.
        self._namespace = object()
        self._hits = 0
        self._misses = 0

    @property
    def cache(self) -> ClientArraysCache:
        """Where prepared clients are kept."""
        return self._cache

    @property
    def hits(self) -> int:
        """Clients served from the cache."""
        return self._hits

    @property
    def misses(self) -> int:
        """Clients read from `inner`."""
        return self._misses

    def arrays_for(self, client_id: str) -> Arrays:
        key = (self._namespace, client_id)
        cached = self._cache.get(key)
        if cached is not None:
            self._hits += 1
            return dict(cached)  # a fresh dict: callers may add or replace keys
        self._misses += 1
        arrays = _read_only(dict(self._inner.arrays_for(client_id)))
        self._cache.put(key, arrays)
        return dict(arrays)

    def num_examples(self, client_id: str) -> int:
        cached = self._cache.get((self._namespace, client_id), use=False)
        if cached is not None:
            return len(next(iter(cached.values())))
        return self._inner.num_examples(client_id)


def cache_file_backed(data: FederatedData, max_bytes: int) -> FederatedData:
    """`data` with its file-backed client splits (train, test) sharing one cache.

    Splits that are not file-backed, or already cached, are left as they are; so is
    everything when `max_bytes` is 0.

    Args:
        data: Freshly loaded federated data.
        max_bytes: The bound of the cache the splits share.
    """
    cache = ClientArraysCache(max_bytes)

    def cached(split: Optional[ClientData]) -> Optional[ClientData]:
        if split is None or max_bytes == 0 or isinstance(split, CachedClientData):
            return split
        return CachedClientData(split, cache) if split.file_backed else split

    train = cached(data.train)
    assert train is not None  # every data set has training clients
    return dataclasses.replace(data, train=train, test=cached(data.test))
