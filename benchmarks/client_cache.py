"""Prepared-client cache: a fixed cohort read from an EMNIST-shaped HDF5 file.

TFF's tutorial trains the same 10 writers every round. Their examples are written
in TFF's HDF5 layout (10 writers of 300-700 28x28 float images) to a temporary
directory; each round's cohort (`build_cohort`: read, convert, stack, schedule) is
built from the store directly and through `CachedClientData` (what a run does,
within a quarter of the memory budget), interleaved, after one warm-up round.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Optional, Sequence

from benchmarks import harness

TITLE = "Prepared-client cache"


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.client_cache", description=__doc__)
    parser.add_argument("--rounds", type=int, default=20, help="timed rounds per store")
    args = parser.parse_args(argv)
    harness.quiet_tensorflow()
    harness.header(TITLE, "10 writers x 300-700 images, 5 epochs, batch 20, one cohort a round")

    import h5py
    import numpy as np

    from fedrun.data.client_cache import CachedClientData, ClientArraysCache
    from fedrun.data.cohort import build_cohort
    from fedrun.data.preprocess import PreprocessConfig
    from fedrun.data.sources.emnist import open_emnist_file

    rng = np.random.default_rng(0)
    sizes = rng.integers(300, 701, size=10)
    writers = [f"f{k:04d}_00" for k in range(10)]
    config = PreprocessConfig(epochs=5, batch_size=20, shuffle_buffer=100, flatten=False)
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "fed_emnist_digitsonly_train.h5")
        with h5py.File(path, "w") as f:
            for writer, n in zip(writers, sizes):
                group = f.create_group(f"examples/{writer}")
                group.create_dataset(
                    "pixels", data=rng.uniform(size=(n, 28, 28)).astype(np.float32)
                )
                group.create_dataset("label", data=rng.integers(0, 10, size=n).astype(np.int32))
        store = open_emnist_file(path, num_classes=10)
        cached = CachedClientData(store, ClientArraysCache(10**9))
        seconds: dict[str, list[float]] = {"store": [], "cached": []}
        for round_num in range(args.rounds + 1):
            for name, data in (("store", store), ("cached", cached)):
                start = time.perf_counter()
                build_cohort(data, writers, config, seed=0, round_num=round_num + 1)
                if round_num:  # round 0 warms up (and fills the cache)
                    seconds[name].append(time.perf_counter() - start)
    store_s, cached_s = (float(np.median(seconds[n])) for n in ("store", "cached"))
    print(f"  {int(sizes.sum()):,} examples a round; median of {args.rounds} rounds each")
    print(f"  store read every round   {store_s * 1e3:8.1f} ms a round")
    print(
        f"  prepared clients cached  {cached_s * 1e3:8.1f} ms a round ({store_s / cached_s:.1f}x)"
    )
    print(f"  cache: {cached.hits} hits, {cached.misses} misses")


if __name__ == "__main__":
    main()
