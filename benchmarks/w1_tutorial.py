"""W1, the tutorial: `logreg`, 10 clients x 5 epochs x batch 20 on MNIST-5k.

Compares `vectorized` and `sequential` runtimes with the centralized bound on the
same examples (the cohort of round 1, every real example of its schedule).
Targets: vectorized >= 4x the bound's examples/s, sequential >= 0.8x. A second
reference, the *XLA floor* (`harness.XlaFloor`): the same SGD steps as one bare
XLA-compiled `tf.while_loop`; the fastest runtime's seconds per round over the
floor's say what the rest of a round (metrics, masks, aggregation) costs.
"""

from __future__ import annotations

import argparse
from typing import Optional, Sequence

from benchmarks import harness

TITLE = "W1 tutorial"


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.w1_tutorial", description=__doc__)
    parser.add_argument(
        "--rounds", type=int, default=12, help="rounds per runtime (median of rounds 2..N)"
    )
    args = parser.parse_args(argv)
    harness.quiet_tensorflow()
    harness.header(
        TITLE, "logreg, 10 clients/round x 5 epochs x batch 20, MNIST-5k (default split)"
    )

    # "vectorized" packs unequal clients into fewer lanes on CPU (the default);
    # "vectorized, one lane each" is the same runtime with packing off.
    overrides = {
        "vectorized": ["runtime=vectorized"],
        "vectorized, one lane each": ["runtime=vectorized", "runtime.pack_clients=false"],
        "sequential": ["runtime=sequential"],
    }
    runs = {name: harness.configured_rounds(o) for name, o in overrides.items()}
    for _, rounds in runs.values():
        rounds()  # round 1: tracing and compilation
    built, first = runs["vectorized"]
    bound = harness.CentralizedBound(
        harness.keras_model_of(built),
        first.cohort,
        built.spec.client_optimizer.params.learning_rate,
        built.config.preprocess.batch_size,
    )
    bound()
    floor = harness.XlaFloor(
        first.cohort,
        built.spec.client_optimizer.params.learning_rate,
        built.data.num_classes,
    )
    floor()
    harness.interleave([rounds for _, rounds in runs.values()] + [bound, floor], args.rounds - 1)

    rows = [
        harness.Row("centralized bound (Keras)", bound.timing),
        harness.Row("XLA floor (bare while_loop)", floor.timing),
    ]
    for name, (built, rounds) in runs.items():
        rows.append(harness.Row(f"fedrun {name}", rounds.train, harness.trace_count(built.runtime)))
    harness.print_table(f"{TITLE}: {args.rounds} rounds each, interleaved", rows, bound.timing)
    for name, (_, rounds) in runs.items():
        ratio = (bound.timing.cpu_seconds / bound.timing.examples[-1]) / (
            rounds.train.cpu_seconds / rounds.train.examples[-1]
        )
        print(
            f"  fedrun {name}: {ratio:.2f}x the bound's examples per CPU second "
            "(targets: vectorized >= 4x, sequential >= 0.8x)"
        )
    fastest = min(runs, key=lambda name: runs[name][1].train.seconds)
    print(
        f"  fastest runtime (fedrun {fastest}): {runs[fastest][1].train.seconds / floor.timing.seconds:.2f}x "
        "the XLA floor's seconds per round (target <= 1.2x)"
    )
    cohort_seconds = runs["vectorized"][1].cohorts.seconds
    print(f"  building a round's batch schedule (numpy, not in s/round): {cohort_seconds:.4f} s")
    print(f"  peak RSS of this process: {harness.peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
