"""GPU workloads (`make bench-gpu`): W2 cnn_emnist, W5 char_rnn, W6 CIFAR-shaped CNN.

Prints the device, seconds per round, examples per second and peak GPU memory of
`vectorized` and `sequential` for each workload (median of rounds 2..N, the
runtimes interleaved). Installs `fedrun[gpu]` (TensorFlow with CUDA) first when
the machine has an NVIDIA driver but TensorFlow sees no GPU. Without a GPU it says
so and stops, unless `--cpu` asks for the same workloads on the CPU (`--quick`
shrinks them to check that the script works). A time budget (default 7 minutes)
skips the workloads that would not start in time.

W6 is pfl-research's CIFAR-10 benchmark shape (cohort 50, 50 examples per client,
batch 10, 1 local epoch, a small CNN) on generated 32x32x3 images; it times the
cohort's local training (the runtime's `train`), not aggregation.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from typing import Any, Callable, Optional, Sequence

from benchmarks import harness


def ensure_gpu_tensorflow() -> bool:
    """Whether TensorFlow sees a GPU, after installing `fedrun[gpu]` if a driver is there."""
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        return True
    if shutil.which("nvidia-smi") is None or os.environ.get("FEDRUN_GPU_INSTALLED"):
        return False
    print(
        "an NVIDIA driver is present but TensorFlow sees no GPU: installing fedrun[gpu]", flush=True
    )
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "-e", f"{harness.ROOT}[gpu]"],
        check=True,
    )
    os.environ["FEDRUN_GPU_INSTALLED"] = "1"
    os.execv(sys.executable, [sys.executable, "-m", "benchmarks.gpu", *sys.argv[1:]])
    return False  # not reached


def peak_memory_mb() -> Optional[float]:
    """Peak GPU memory TensorFlow allocated so far (None without a GPU)."""
    import tensorflow as tf

    if not tf.config.list_physical_devices("GPU"):
        return None
    return tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20


def report(title: str, rows: dict[str, harness.Timing]) -> None:
    peak = peak_memory_mb()
    memory = f"{peak:.0f} MB" if peak is not None else "n/a (CPU)"
    print(f"{title}: peak GPU memory so far {memory}")
    for name, timing in rows.items():
        print(
            f"  {name:<12} {timing.seconds:8.3f} s/round  {timing.examples_per_second:10.0f} examples/s"
        )
    if {"vectorized", "sequential"} <= set(rows):
        print(
            f"  vectorized / sequential speed: {rows['sequential'].seconds / rows['vectorized'].seconds:.2f}x"
        )


def configured(title: str, overrides: Sequence[str], rounds: int) -> None:
    runs = {
        name: harness.configured_rounds([f"runtime={name}", "progress=false", *overrides])[1]
        for name in ("vectorized", "sequential")
    }
    for run in runs.values():
        run()
    harness.interleave(list(runs.values()), rounds - 1)
    report(title, {name: run.train for name, run in runs.items()})


def cifar_shape(rounds: int, quick: bool) -> None:
    import keras
    import numpy as np
    import tensorflow as tf

    from fedrun.data.client_data import ArrayClientData
    from fedrun.data.cohort import build_cohort
    from fedrun.data.preprocess import PreprocessConfig
    from fedrun.models.build import classification_model
    from fedrun.optimizers import SGD
    from fedrun.runtime.base import client_seeds
    from fedrun.runtime.local import SequentialRuntime, VectorizedRuntime
    from fedrun.runtime.trainer import LocalRule, no_inputs

    clients, per_client = (8, 20) if quick else (50, 50)
    rng = np.random.default_rng(0)
    arrays = {
        "x": rng.random((clients * per_client, 32, 32, 3), dtype=np.float32),
        "y": rng.integers(0, 10, clients * per_client).astype(np.int32),
    }
    ids = [f"c{k}" for k in range(clients)]
    data = ArrayClientData(
        arrays, {cid: np.arange(k * per_client, (k + 1) * per_client) for k, cid in enumerate(ids)}
    )
    keras.utils.set_random_seed(0)
    x_in = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(32, 3, activation="relu")(x_in)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Conv2D(64, 3, activation="relu")(x)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(128, activation="relu")(x)
    spec = {"x": tf.TensorSpec([32, 32, 3], tf.float32), "y": tf.TensorSpec([], tf.int32)}
    model = classification_model(
        keras.Model(x_in, keras.layers.Dense(10, activation="softmax")(x)), spec
    )
    config = PreprocessConfig(epochs=1, batch_size=10, shuffle_buffer=100, flatten=False)
    timings: dict[str, harness.Timing] = {}
    runners: list[Callable[[], None]] = []
    for name, runtime in (
        ("vectorized", VectorizedRuntime(fallback="error")),
        ("sequential", SequentialRuntime()),
    ):
        trainer = runtime.make_trainer(model, SGD(0.05), LocalRule())
        timing = timings.setdefault(name, harness.Timing())
        state = {"round": 0}

        def one_round(
            runtime: Any = runtime,
            trainer: Any = trainer,
            timing: harness.Timing = timing,
            state: dict = state,
        ) -> None:
            state["round"] += 1
            cohort = build_cohort(data, ids, config, 0, state["round"])
            inputs = no_inputs(0.05, clients, client_seeds(0, state["round"], ids))
            outputs, wall, cpu = harness.timed(
                lambda: runtime.train(
                    trainer, model.initial_weights, cohort, inputs
                ).num_examples.numpy()
            )
            timing.add(wall, cpu, int(outputs.sum()))

        runners.append(one_round)
    for runner in runners:
        runner()
    harness.interleave(runners, rounds - 1)
    report(
        f"W6 CIFAR-shaped CNN ({clients} clients x {per_client} examples, batch 10, 1 epoch; local training)",
        timings,
    )


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu", description=__doc__)
    parser.add_argument(
        "--rounds", type=int, default=4, help="rounds per runtime (median of rounds 2..N)"
    )
    parser.add_argument("--cpu", action="store_true", help="run on the CPU when there is no GPU")
    parser.add_argument(
        "--quick", action="store_true", help="small models and cohorts (checks the script)"
    )
    parser.add_argument(
        "--budget-seconds",
        type=float,
        default=420.0,
        help="skip workloads that would start after this",
    )
    args = parser.parse_args(argv)
    harness.quiet_tensorflow()
    started = time.perf_counter()
    has_gpu = ensure_gpu_tensorflow()
    print(f"== GPU workloads: {harness.device_line()}; {harness.load_line()}", flush=True)
    if not has_gpu:
        print(
            "no GPU: TensorFlow sees no GPU device on this machine (no NVIDIA driver, or none visible)."
        )
        if not args.cpu:
            print("nothing measured; pass --cpu to run the same workloads on the CPU")
            return
    rnn = ["model.lstm_units=[32]", "clients_per_round=4"] if args.quick else []
    cnn = ["clients_per_round=4", "dataset.num_clients=8"] if args.quick else []
    workloads: list[tuple[str, Callable[[], None]]] = [
        (
            "W2",
            lambda: configured(
                "W2 cnn_emnist (10 clients, 1 epoch, batch 20)",
                ["model=cnn_emnist", "preprocess.epochs=1", *cnn],
                args.rounds,
            ),
        ),
        (
            "W5",
            lambda: configured(
                "W5 char_rnn Shakespeare (10 clients, batch 4, 1 epoch)",
                [
                    "dataset=shakespeare",
                    "model=char_rnn",
                    "preprocess.batch_size=4",
                    "preprocess.epochs=1",
                    "eval_clients=1",
                    *rnn,
                ],
                args.rounds,
            ),
        ),
        ("W6", lambda: cifar_shape(args.rounds, args.quick)),
    ]
    for name, workload in workloads:
        if time.perf_counter() - started > args.budget_seconds:
            print(f"{name}: skipped (time budget of {args.budget_seconds:.0f} s spent)")
            continue
        workload()
        sys.stdout.flush()
    print(f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
