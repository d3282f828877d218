"""Soak run: 2,000 rounds of the tutorial workload with a checkpoint every 50.

The tutorial workload is fedrun's default config (MNIST-5k, `logreg`, 10 clients a
round, 5 local epochs, batch 20, evaluation every round). The run goes through
`fedrun.run.run`, so it exercises everything a real run writes (TensorBoard,
`metrics.jsonl`, checkpoints). Reported:

* peak RSS, and RSS sampled through the run (it should stay flat after warm-up);
* checkpoint write time in the run (median, max), and the cost of one checkpoint
  of the default model measured alone (median of repeated saves);
* seconds per round (median) and wall time.

    python -m benchmarks.soak [--rounds 2000] [--every 50] [--keep-dir DIR]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import tempfile
import threading
import time
from typing import Any, Optional, Sequence


def rss_mb() -> float:
    """Current resident set size of this process, in MB."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


class RssSampler(threading.Thread):
    """Samples RSS every `interval` seconds until stopped."""

    def __init__(self, interval: float = 1.0) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.samples: list[tuple[float, float]] = []
        self._stopped = threading.Event()

    def run(self) -> None:
        start = time.perf_counter()
        while not self._stopped.wait(self.interval):
            self.samples.append((time.perf_counter() - start, rss_mb()))

    def stop(self) -> None:
        self._stopped.set()
        self.join()


def checkpoint_cost_ms(checkpoints_dir: str, repeats: int = 20) -> dict[str, float]:
    """Median and max milliseconds of saving the run's last checkpoint's arrays again."""
    import numpy as np

    from fedrun.training.checkpoint import list_checkpoints, read_manifest, save_checkpoint

    _, manifest_path = list_checkpoints(checkpoints_dir)[-1]
    manifest = read_manifest(manifest_path)
    with np.load(manifest_path[: -len(".json")] + ".npz", allow_pickle=False) as npz:
        leaves = [npz[entry["member"]] for entry in manifest["state"]]
    times = []
    with tempfile.TemporaryDirectory(
        dir=checkpoints_dir
    ) as scratch:  # same disk as the run's checkpoints
        for i in range(repeats):
            started = time.perf_counter()
            save_checkpoint(scratch, i + 1, leaves, config=manifest["config"])
            times.append((time.perf_counter() - started) * 1000)
    return {"median_ms": statistics.median(times), "max_ms": max(times), "bytes": manifest["bytes"]}


def main(argv: Optional[Sequence[str]] = None) -> dict[str, Any]:
    """Runs the soak and prints (and returns) its measurements."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--every", type=int, default=50, help="rounds between checkpoints")
    parser.add_argument(
        "--keep-dir",
        default=None,
        help="write the run here and keep it (default: a temporary directory)",
    )
    args = parser.parse_args(argv)

    from fedrun.cli import compose_config
    from fedrun.run import run

    output_dir = args.keep_dir or tempfile.mkdtemp(prefix="fedrun-soak-")
    plain = compose_config(
        [f"rounds={args.rounds}", f"checkpoint.every={args.every}", "progress=false"]
    )
    sampler = RssSampler()
    sampler.start()
    started = time.perf_counter()
    try:
        summary = run(plain, output_dir)
        wall = time.perf_counter() - started
        sampler.stop()
        cost = checkpoint_cost_ms(os.path.join(output_dir, "checkpoints"))
    finally:
        if args.keep_dir is None:
            shutil.rmtree(output_dir, ignore_errors=True)
    samples = [mb for _, mb in sampler.samples]
    warm = samples[len(samples) // 10 :] or samples
    results = {
        "rounds": summary["rounds"],
        "checkpoint_every": args.every,
        "wall_seconds": wall,
        "median_round_seconds": summary["median_round_seconds"],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_after_warmup_mb": warm[0] if warm else None,
        "rss_at_end_mb": samples[-1] if samples else None,
        "checkpoints_saved": summary["checkpoints"]["saved"],
        "checkpoint_write_ms_median": summary["checkpoints"]["median_write_seconds"] * 1000,
        "checkpoint_write_ms_max": summary["checkpoints"]["max_write_seconds"] * 1000,
        "checkpoint_alone_ms_median": cost["median_ms"],
        "checkpoint_alone_ms_max": cost["max_ms"],
        "checkpoint_bytes": cost["bytes"],
        "final_eval_accuracy": summary["final_eval"].get("centralized", {}).get("accuracy"),
    }
    width = max(len(k) for k in results)
    for key, value in results.items():
        print(
            f"{key:<{width}}  {value:.4g}"
            if isinstance(value, float)
            else f"{key:<{width}}  {value}"
        )
    return results


if __name__ == "__main__":
    main()
