"""What the TFF facade costs on top of fedrun's native path (workload W1).

W1 is the image-classification tutorial's default: logistic regression on 784
features, 10 clients, 5 local epochs, batch 20, shuffle buffer 100 (seeded), client
SGD 0.02, server SGD 1.0. The same synthetic EMNIST-shaped clients train

* natively: `fedrun.learning.algorithms.fedavg.build_weighted_fed_avg` on
  `build_cohort` batches, and
* through the facade: the tutorial's program (`tff.learning.algorithms.
  build_weighted_fed_avg` with a Keras model and Keras SGD factories, one
  preprocessed `tf.data.Dataset` per client),

in the same process, alternating. The figure is seconds per round, the median of
rounds 2..N (round 1 compiles). Run: `python -m benchmarks.compat_overhead [--rounds N]`.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import fedrun.compat.tff as tff  # noqa: E402
from fedrun.data.client_data import ArrayClientData  # noqa: E402
from fedrun.data.cohort import build_cohort  # noqa: E402
from fedrun.data.preprocess import PreprocessConfig  # noqa: E402
from fedrun.learning.algorithms.fedavg import build_weighted_fed_avg  # noqa: E402
from fedrun.models.build import classification_model  # noqa: E402
from fedrun.models.builders import ModelInputs, NoParams, logreg  # noqa: E402
from fedrun.optimizers import SGD  # noqa: E402

NUM_CLIENTS, NUM_EPOCHS, BATCH_SIZE, SHUFFLE_BUFFER, PREFETCH_BUFFER = 10, 5, 20, 100, 10


def synthetic_clients(seed: int = 0) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """EMNIST-shaped clients (about 97 examples each, as the tutorial's first ten)."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(80, 115, NUM_CLIENTS)
    total = int(sizes.sum())
    arrays = {
        "x": rng.random((total, 28, 28), dtype=np.float32),
        "y": rng.integers(0, 10, total).astype(np.int32),
    }
    starts = np.cumsum(sizes) - sizes
    indices = {f"client_{k}": np.arange(s, s + n) for k, (s, n) in enumerate(zip(starts, sizes))}
    return arrays, indices


def native_round_fn(arrays: dict[str, np.ndarray], indices: dict[str, np.ndarray]):
    flat = {"x": arrays["x"].reshape(len(arrays["x"]), 784), "y": arrays["y"]}
    data = ArrayClientData(flat, indices)
    spec = {"x": tf.TensorSpec([784], tf.float32), "y": tf.TensorSpec([], tf.int32)}
    model = classification_model(logreg(NoParams(), ModelInputs((784,), "float32", 10)), spec)
    process = build_weighted_fed_avg(model, SGD(0.02), server_optimizer=SGD(1.0))
    config = PreprocessConfig(NUM_EPOCHS, BATCH_SIZE, SHUFFLE_BUFFER, shuffle_seed=1, flatten=False)
    state = [process.initialize()]

    def run(round_num: int) -> float:
        cohort = build_cohort(data, list(indices), config, seed=0, round_num=round_num)
        output = process.next(state[0], cohort)
        state[0] = output.state
        return float(output.metrics["client_work"]["train"]["loss"])

    return run


def facade_round_fn(arrays: dict[str, np.ndarray], indices: dict[str, np.ndarray]):
    def dataset_fn(client_id: str) -> tf.data.Dataset:
        idx = indices[client_id]
        return tf.data.Dataset.from_tensor_slices(
            collections.OrderedDict(label=arrays["y"][idx], pixels=arrays["x"][idx])
        )

    client_data = tff.simulation.datasets.ClientData.from_clients_and_tf_fn(
        list(indices), dataset_fn
    )

    def preprocess(dataset: tf.data.Dataset) -> tf.data.Dataset:
        def batch_format_fn(element):
            return collections.OrderedDict(
                x=tf.reshape(element["pixels"], [-1, 784]), y=tf.reshape(element["label"], [-1, 1])
            )

        return (
            dataset.repeat(NUM_EPOCHS)
            .shuffle(SHUFFLE_BUFFER, seed=1)
            .batch(BATCH_SIZE)
            .map(batch_format_fn)
            .prefetch(PREFETCH_BUFFER)
        )

    federated_train_data = [
        preprocess(client_data.create_tf_dataset_for_client(c)) for c in client_data.client_ids
    ]
    input_spec = federated_train_data[0].element_spec

    def model_fn():
        keras_model = tf.keras.models.Sequential(
            [
                tf.keras.Input(shape=(784,)),
                tf.keras.layers.Dense(10, kernel_initializer="zeros"),
                tf.keras.layers.Softmax(),
            ]
        )
        return tff.learning.models.from_keras_model(
            keras_model,
            input_spec=input_spec,
            loss=tf.keras.losses.SparseCategoricalCrossentropy(),
            metrics=[tf.keras.metrics.SparseCategoricalAccuracy()],
        )

    process = tff.learning.algorithms.build_weighted_fed_avg(
        model_fn,
        client_optimizer_fn=lambda: tf.keras.optimizers.SGD(learning_rate=0.02),
        server_optimizer_fn=lambda: tf.keras.optimizers.SGD(learning_rate=1.0),
    )
    state = [process.initialize()]

    def run(round_num: int) -> float:
        result = process.next(state[0], federated_train_data)
        state[0] = result.state
        return float(result.metrics["client_work"]["train"]["loss"])

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=12)
    args = parser.parse_args()
    arrays, indices = synthetic_clients()
    runs = {"native": native_round_fn(arrays, indices), "facade": facade_round_fn(arrays, indices)}
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    for round_num in range(1, args.rounds + 1):
        for name, run in runs.items():
            started = time.perf_counter()
            run(round_num)
            seconds[name].append(time.perf_counter() - started)
    medians = {name: statistics.median(values[1:]) for name, values in seconds.items()}
    result = {
        "workload": "W1",
        "rounds": args.rounds,
        "median_round_seconds": medians,
        "first_round_seconds": {name: values[0] for name, values in seconds.items()},
        "facade_over_native": medians["facade"] / medians["native"],
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
