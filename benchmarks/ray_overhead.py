"""Per-round overhead of `runtime=ray` (2 local workers) against `runtime=sequential`.

Workloads (the performance suite's W1 and W2):
  W1: the tutorial: logreg on MNIST-5k, 10 clients x 5 epochs x batch 20.
  W2: `model=cnn_emnist`, 10 clients a round, 1 epoch, batch 20.
Each runs in this process from the composed config, once per runtime: sequential,
ray with sequential actors, ray with vectorized actors (the `runtime=ray` default).
Reported: seconds per round, the median of rounds 2..N (round 1 starts Ray, the
actors and their compiled functions); under ray also the time the busiest worker
spent on its share, so that the rest (serialization, object store, scheduling, the
driver's joins) is Ray's own overhead; and the difference to sequential.

    python -m benchmarks.ray_overhead [--rounds 8] [--workloads W1 W2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path
from typing import Any, Optional, Sequence

ROOT = Path(__file__).resolve().parent.parent
COMMON = ["eval_every=0", "progress=false", "sampling=uniform"]
WORKLOADS = {
    "W1": [
        "model=logreg",
        "clients_per_round=10",
        "preprocess.epochs=5",
        "preprocess.batch_size=20",
    ],
    "W2": [
        "model=cnn_emnist",
        "preprocess.flatten=false",
        "clients_per_round=10",
        "preprocess.epochs=1",
        "preprocess.batch_size=20",
    ],
}
RUNTIMES = {
    "sequential": ["runtime=sequential"],
    "ray (sequential actors)": [
        "runtime=ray",
        "runtime.num_cpus=2",
        "runtime.num_workers=2",
        "runtime.local=sequential",
    ],
    "ray (vectorized actors)": [
        "runtime=ray",
        "runtime.num_cpus=2",
        "runtime.num_workers=2",
        "runtime.local=vectorized",
    ],
}


def compose(overrides: Sequence[str]) -> dict[str, Any]:
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from omegaconf import OmegaConf

    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        return OmegaConf.to_container(
            hydra_compose("config", overrides=list(overrides)), resolve=True
        )


def seconds_per_round(overrides: Sequence[str]) -> tuple[float, Optional[float], float]:
    """Of a run of `overrides`: median seconds of rounds 2..N, the median time the
    busiest Ray worker spent training in those rounds (None off Ray), round 1's seconds."""
    from fedrun.run import build
    from fedrun.training.callbacks import Callback
    from fedrun.training.loop import LoopConfig, run_rounds

    built = build(compose(overrides))
    config = built.config
    loop = LoopConfig(config.rounds, config.clients_per_round, config.seed, config.preprocess)
    worker_seconds: list[float] = []

    class WorkerTime(Callback):
        def on_round_end(self, record: dict[str, Any]) -> None:
            if hasattr(built.runtime, "last_worker_seconds"):
                worker_seconds.append(built.runtime.last_worker_seconds)

    try:
        _, records = run_rounds(
            built.process,
            built.data,
            built.sampler,
            loop,
            built.process.initialize(),
            [WorkerTime()],
        )
    finally:
        built.runtime.close()
    seconds = [r["round_seconds"] for r in records]
    busiest = statistics.median(worker_seconds[1:]) if worker_seconds else None
    return statistics.median(seconds[1:]), busiest, seconds[0]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rounds", type=int, default=8, help="rounds per run (the median uses rounds 2..N)"
    )
    parser.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=list(WORKLOADS))
    args = parser.parse_args(argv)
    from fedrun.cli import import_tensorflow_quietly

    import_tensorflow_quietly()
    print(f"cpus: {os.cpu_count()}, rounds: {args.rounds}")
    print(
        "| workload | runtime | s/round (median of 2..N) | busiest worker s/round | Ray + driver s/round "
        "| vs sequential | round 1 s | whole run s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for workload in args.workloads:
        baseline = None
        for name, runtime in RUNTIMES.items():
            started = time.perf_counter()
            median, busiest, first = seconds_per_round(
                [*WORKLOADS[workload], *COMMON, f"rounds={args.rounds}", *runtime]
            )
            baseline = median if baseline is None else baseline
            versus = (
                ""
                if median is baseline
                else f"{median - baseline:+.3f} s ({median / baseline:.2f}x)"
            )
            worker = "" if busiest is None else f"{busiest:.3f}"
            ray_part = "" if busiest is None else f"{median - busiest:.3f}"
            wall = time.perf_counter() - started
            print(
                f"| {workload} | {name} | {median:.3f} | {worker} | {ray_part} | {versus} | {first:.1f} | {wall:.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
