"""Start-up cost of `dataset=huggingface` on a 3,500-writer set: clients are read lazily.

Writes (once) a `save_to_disk` set of 3,500 writers x 20 grayscale 28x28 images in
FEMNIST's columns, builds the source partitioned by `writer_id`, and reports the build
time, the peak RSS the build added (importing `datasets` included), and the time to read
one client, next to the size all pixels would take decoded as float32.

    python -m benchmarks.hf_lazy [--dir /tmp/fedrun_hf_lazy]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_set(path: str, writers: int = 3500, per_writer: int = 20) -> None:
    import datasets
    import numpy as np

    n = writers * per_writer
    images = np.random.default_rng(0).integers(0, 256, (n, 28, 28), dtype=np.uint8)
    features = datasets.Features(
        {
            "image": datasets.Image(),
            "writer_id": datasets.Value("string"),
            "character": datasets.ClassLabel(num_classes=62),
        }
    )
    columns = {
        "image": list(images),
        "writer_id": [f"f{k % writers:04d}" for k in range(n)],
        "character": (np.arange(n) % 62).tolist(),
    }
    datasets.Dataset.from_dict(columns, features=features).save_to_disk(path)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", default="/tmp/fedrun_hf_lazy")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if not os.path.exists(args.dir):
        # A separate process writes the set, so this one's peak RSS is only the reading.
        import subprocess
        import sys

        subprocess.run(
            [
                sys.executable,
                "-c",
                f"from benchmarks.hf_lazy import write_set; write_set({args.dir!r})",
            ],
            check=True,
        )
    import fedrun.data.sources  # noqa: F401
    from fedrun.data.preprocess import PreprocessConfig
    from fedrun.data.registry import DATASETS, DataContext

    before = _peak_mb()
    start = time.perf_counter()
    node = {
        "type": "huggingface",
        "path": args.dir,
        "partition_by": "writer_id",
        "label": "character",
        "client_test_fraction": 0,
    }
    data = DATASETS.build(
        node, "dataset", context=DataContext(0, PreprocessConfig()), config_path="dataset"
    )
    build_s = time.perf_counter() - start
    added = _peak_mb() - before
    ids = list(data.train.client_ids)
    start = time.perf_counter()
    for cid in ids[:100]:
        data.train.arrays_for(cid)
    read_ms = (time.perf_counter() - start) * 10
    examples = sum(data.train.num_examples(c) for c in ids)
    print(
        json.dumps(
            {
                "clients": len(ids),
                "examples": examples,
                "build_s": round(build_s, 2),
                "build_peak_rss_added_mb": round(added),
                "read_one_client_ms": round(read_ms, 1),
                "all_pixels_float32_mb": round(examples * 784 * 4 / 2**20),
            }
        )
    )


if __name__ == "__main__":
    main()
