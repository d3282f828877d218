"""W2: `cnn_emnist` (Reddi et al.'s EMNIST CNN, dropout), 10 clients a round, 1 epoch, batch 20.

A compute-bound model: federated overhead over the centralized bound should be
small (target: at most 10%). TensorFlow cannot vectorize a convolution whose
filter differs per client, so `vectorized` falls back to one client per call
(it says so on stderr); `sequential` is shown beside it.
"""

from __future__ import annotations

import argparse
from typing import Optional, Sequence

from benchmarks import harness

TITLE = "W2 cnn_emnist"


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.w2_cnn_emnist", description=__doc__)
    parser.add_argument(
        "--rounds", type=int, default=5, help="rounds per runtime (median of rounds 2..N)"
    )
    args = parser.parse_args(argv)
    harness.quiet_tensorflow()
    harness.header(
        TITLE, "cnn_emnist, 10 clients/round x 1 epoch x batch 20, MNIST-5k images (10 classes)"
    )

    overrides = ["model=cnn_emnist", "preprocess.epochs=1"]
    runs = {
        name: harness.configured_rounds([f"runtime={name}", *overrides])
        for name in ("vectorized", "sequential")
    }
    for _, rounds in runs.values():
        rounds()
    built, first = runs["vectorized"]
    bound = harness.CentralizedBound(
        harness.keras_model_of(built),
        first.cohort,
        built.config.client_optimizer["learning_rate"],
        built.config.preprocess.batch_size,
    )
    bound()
    harness.interleave([rounds for _, rounds in runs.values()] + [bound], args.rounds - 1)

    rows = [harness.Row("centralized bound (Keras)", bound.timing)]
    for name, (built, rounds) in runs.items():
        vectorized = any(t.vectorize for t in built.runtime.trainers if t.optimizer is not None)
        note = "" if name == "sequential" or vectorized else "(fell back to one client per call)"
        rows.append(
            harness.Row(
                f"fedrun {name}", rounds.train, harness.trace_count(built.runtime), note=note
            )
        )
    harness.print_table(f"{TITLE}: {args.rounds} rounds each, interleaved", rows, bound.timing)
    for row in rows[1:]:
        overhead = bound.timing.examples_per_second / row.timing.examples_per_second - 1
        cpu_overhead = (row.timing.cpu_seconds / row.timing.examples[-1]) / (
            bound.timing.cpu_seconds / bound.timing.examples[-1]
        ) - 1
        print(
            f"  federated overhead of {row.name}: {overhead:+.1%} ({cpu_overhead:+.1%} in CPU time per example; target <= +10%)"
        )
    print(f"  peak RSS of this process: {harness.peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
