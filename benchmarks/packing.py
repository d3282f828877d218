"""Packing: one long client among short ones, vectorized with and without packing.

Ten clients of a logistic regression on generated 784-feature examples, 5 epochs
at batch 20: nine clients of `--short` examples and one of `--long`, so a
vectorized call without packing runs all ten lanes for the long client's steps.
Packed (`runtime.pack_clients`, the CPU default), the short clients share lanes
one after another. Both trainers are timed call by call, interleaved, after
their first call (tracing and compilation); results are checked equal.
"""

from __future__ import annotations

import argparse
import time
from typing import Optional, Sequence

from benchmarks import harness

TITLE = "Packing"


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.packing", description=__doc__)
    parser.add_argument("--short", type=int, default=20, help="examples of each short client")
    parser.add_argument("--long", type=int, default=400, help="examples of the long client")
    parser.add_argument("--calls", type=int, default=60, help="timed calls per trainer")
    args = parser.parse_args(argv)
    harness.quiet_tensorflow()
    harness.header(TITLE, f"logreg, 9 clients of {args.short} examples and 1 of {args.long}")

    import keras
    import numpy as np
    import tensorflow as tf

    from fedrun.data.client_data import ArrayClientData
    from fedrun.data.cohort import build_cohort
    from fedrun.data.preprocess import PreprocessConfig
    from fedrun.models.build import classification_model
    from fedrun.optimizers import SGD
    from fedrun.runtime.base import client_seeds
    from fedrun.runtime.rule import LocalRule, no_inputs
    from fedrun.runtime.trainer import LocalTrainer

    sizes = [args.short] * 9 + [args.long]
    rng = np.random.default_rng(0)
    total = sum(sizes)
    arrays = {
        "x": rng.random((total, 784), dtype=np.float32),
        "y": rng.integers(0, 10, total).astype(np.int32),
    }
    starts = np.cumsum([0] + sizes)
    ids = [f"client{k}" for k in range(len(sizes))]
    data = ArrayClientData(
        arrays, {cid: np.arange(starts[k], starts[k + 1]) for k, cid in enumerate(ids)}
    )
    config = PreprocessConfig(epochs=5, batch_size=20, shuffle_buffer=args.long, flatten=False)
    cohort = build_cohort(data, ids, config, seed=0, round_num=1)
    spec = {"x": tf.TensorSpec([784], tf.float32), "y": tf.TensorSpec([], tf.int32)}
    inputs = keras.Input((784,))
    model = classification_model(
        keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(inputs)), spec
    )
    weights = model.initial_weights
    round_inputs = no_inputs(0.1, cohort.num_clients, client_seeds(0, 1, cohort.client_ids))
    steps = [int(s) for s in cohort.steps_per_client()]
    print(f"   steps per client: {steps} ({sum(steps)} real, {len(steps) * max(steps)} unpacked)")

    trainers, outputs = {}, {}
    for packed in (True, False):
        trainer = LocalTrainer(model, SGD(0.1), LocalRule(), vectorize=True, pack_clients=packed)
        outputs[packed] = trainer.train(weights, cohort, round_inputs)
        trainers[packed] = trainer
    for a, b in zip(tf.nest.flatten(outputs[True]), tf.nest.flatten(outputs[False])):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5, rtol=1e-5)
    wall: dict[bool, list[float]] = {True: [], False: []}
    cpu: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(args.calls):
        for packed, trainer in trainers.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            trainer.train(weights, cohort, round_inputs).update[0].numpy()
            wall[packed].append(time.perf_counter() - start)
            cpu[packed].append(time.process_time() - start_cpu)
    print(f"\n{TITLE}: {args.calls} calls each, interleaved (medians; results equal to 1e-5)")
    for packed, label in ((True, "packed"), (False, "one lane each")):
        lanes = trainers[packed].packed_lanes or len(steps)
        print(
            f"  {label:<15} {lanes:>2} lanes  {1000 * np.median(wall[packed]):8.2f} ms wall"
            f"  {1000 * np.median(cpu[packed]):8.2f} ms CPU"
        )
    print(f"  packed is {np.median(wall[False]) / np.median(wall[True]):.2f}x faster per call")


if __name__ == "__main__":
    main()
