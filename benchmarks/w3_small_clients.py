"""W3: 1,000 small clients a round (20 examples each), `logreg`, 5 epochs x batch 20.

Where per-client overhead dominates: `vectorized` trains the 1,000 clients in one
call, `sequential` in 1,000 calls. Target: vectorized at least 10x faster per
round. Clients hold 20 MNIST-5k images each, drawn (seeded) from the 4,000
training images, so clients overlap; speed does not depend on which images.
"""

from __future__ import annotations

import argparse
from typing import Optional, Sequence

import numpy as np

from benchmarks import harness

TITLE = "W3 1,000 small clients"
NUM_CLIENTS, EXAMPLES = 1000, 20


def _rounds(runtime_name: str, plain: dict) -> tuple:
    from fedrun.data.build import build_data
    from fedrun.data.client_data import ArrayClientData
    from fedrun.data.preprocess import PreprocessConfig
    from fedrun.data.registry import DataContext
    from fedrun.learning.algorithms.fedavg import build_weighted_fed_avg
    from fedrun.models.build import build_model
    from fedrun.optimizers import OPTIMIZERS
    from fedrun.runtime import RUNTIMES

    preprocess = PreprocessConfig(**plain["preprocess"])
    data = build_data(plain["dataset"], "dataset", DataContext(plain["seed"], preprocess))
    rng = np.random.default_rng([plain["seed"], NUM_CLIENTS])
    images = np.concatenate([data.train.indices_for(cid) for cid in data.train.client_ids])
    clients = {
        f"small_{k:04d}": rng.choice(images, EXAMPLES, replace=False) for k in range(NUM_CLIENTS)
    }
    train = ArrayClientData(data.train.arrays, clients)
    model = build_model(plain["model"], "model", data, plain["seed"])
    runtime = RUNTIMES.build({"type": runtime_name}, "runtime")
    process = build_weighted_fed_avg(
        model, OPTIMIZERS.build(plain["client_optimizer"], "client_optimizer"), runtime=runtime
    )
    ids = list(clients)
    return (
        model,
        runtime,
        harness.Rounds(process, train, lambda round_num: ids, preprocess, plain["seed"]),
    )


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.w3_small_clients", description=__doc__
    )
    parser.add_argument(
        "--rounds", type=int, default=4, help="rounds per runtime (median of rounds 2..N)"
    )
    args = parser.parse_args(argv)
    harness.quiet_tensorflow()
    harness.header(
        TITLE, f"logreg, {NUM_CLIENTS} clients/round x {EXAMPLES} examples x 5 epochs x batch 20"
    )

    plain = harness.compose()
    runs = {name: _rounds(name, plain) for name in ("vectorized", "sequential")}
    for _, _, rounds in runs.values():
        rounds()
    model, _, first = runs["vectorized"]
    bound = harness.CentralizedBound(
        model.keras_model,
        first.cohort,
        plain["client_optimizer"]["learning_rate"],
        plain["preprocess"]["batch_size"],
    )
    bound()
    harness.interleave([rounds for _, _, rounds in runs.values()] + [bound], args.rounds - 1)

    rows = [harness.Row("centralized bound (Keras)", bound.timing)]
    for name, (_, runtime, rounds) in runs.items():
        rows.append(harness.Row(f"fedrun {name}", rounds.train, harness.trace_count(runtime)))
    harness.print_table(f"{TITLE}: {args.rounds} rounds each, interleaved", rows, bound.timing)
    sequential, vectorized = runs["sequential"][2].train, runs["vectorized"][2].train
    print(
        f"  vectorized is {sequential.seconds / vectorized.seconds:.1f}x faster per round than sequential "
        f"({sequential.cpu_seconds / vectorized.cpu_seconds:.1f}x in CPU time; target >= 10x)"
    )
    print(f"  peak RSS of this process: {harness.peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
