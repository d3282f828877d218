"""W7: peak memory of an evaluation over 3,383 EMNIST-shaped clients under the memory budget.

Generated data shaped as TFF's EMNIST test split (3,383 writers, 28x28 float
images, 62 classes, 1 to 40 examples per writer), evaluated once with
`cnn_emnist` by the `vectorized` runtime at the default `runtime.memory_budget`
(or `--budget`). Target: peak RSS under 4 GB. The Shakespeare half of W7 is the
CLI run `fedrun dataset=shakespeare model=char_rnn` under `/usr/bin/time -v`
(benchmarks/RESULTS.md).
"""

from __future__ import annotations

import argparse
from typing import Optional, Sequence

from benchmarks import harness

TITLE = "W7 memory budget"


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.w7_memory_budget", description=__doc__
    )
    parser.add_argument("--clients", type=int, default=3383, help="evaluation clients")
    parser.add_argument(
        "--budget", default=None, help="runtime.memory_budget (default: the runtime's default)"
    )
    args = parser.parse_args(argv)
    harness.quiet_tensorflow()
    harness.header(
        TITLE, f"cnn_emnist evaluated on {args.clients} EMNIST-shaped clients, vectorized"
    )

    import numpy as np
    import tensorflow as tf

    from fedrun.data.client_data import ArrayClientData
    from fedrun.data.cohort import build_eval_cohort
    from fedrun.models.build import classification_model
    from fedrun.models.builders import CNNDropoutParams, ModelInputs, cnn_emnist
    from fedrun.runtime import memory
    from fedrun.runtime.local import VectorizedRuntime
    from fedrun.runtime.trainer import LocalRule

    rng = np.random.default_rng(0)
    sizes = rng.integers(1, 41, args.clients)
    total = int(sizes.sum())
    arrays = {
        "x": rng.random((total, 28, 28), dtype=np.float32),
        "y": rng.integers(0, 62, total).astype(np.int32),
    }
    starts = np.concatenate([[0], np.cumsum(sizes)])
    ids = [f"w{k:04d}" for k in range(args.clients)]
    data = ArrayClientData(
        arrays, {cid: np.arange(starts[k], starts[k + 1]) for k, cid in enumerate(ids)}
    )
    spec = {"x": tf.TensorSpec([28, 28], tf.float32), "y": tf.TensorSpec([], tf.int32)}
    model = classification_model(
        cnn_emnist(CNNDropoutParams(), ModelInputs((28, 28), "float32", 62)), spec
    )
    runtime = VectorizedRuntime(memory_budget=args.budget)
    trainer = runtime.make_trainer(model, None, LocalRule())
    cohort = build_eval_cohort(data, ids, batch_size=100)
    plan = memory.evaluation_chunks(
        cohort, memory.LaneCost.of(model, None, False).bytes, runtime.memory_budget
    )
    before = harness.peak_rss_mb()
    metrics, wall, cpu = harness.timed(
        lambda: runtime.evaluate(trainer, model.initial_weights, cohort)
    )
    final = model.finalize_metrics(
        tf.nest.map_structure(lambda t: tf.reduce_sum(t, axis=0), metrics)
    )
    print(
        f"  budget {memory.format_size(runtime.memory_budget)}: {len(plan)} chunks, {total} examples"
    )
    print(
        f"  evaluation: {wall:.1f} s wall, {cpu:.1f} s CPU; loss {float(final['loss']):.4f}, num_examples {int(final['num_examples'])}"
    )
    print(
        f"  peak RSS: {before:.0f} MB before the evaluation, {harness.peak_rss_mb():.0f} MB after (target < 4096 MB)"
    )


if __name__ == "__main__":
    main()
