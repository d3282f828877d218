"""TFF's simulations tutorial with `import fedrun.compat.tff as tff`, on tiny EMNIST
files in TFF's layout (`cache_dir=` points the loader at them)."""

import collections
import math
import time

import pytest
import tensorflow as tf

import fedrun.compat.tff as tff
from tests.compat.tff.emnist_files import write_emnist


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("emnist"))
    arrays = write_emnist(directory)
    source, _ = tff.simulation.datasets.emnist.load_data(cache_dir=directory)

    def map_fn(example):
        return collections.OrderedDict(
            x=tf.reshape(example["pixels"], [-1, 784]), y=example["label"]
        )

    def client_data(n):
        ds = source.create_tf_dataset_for_client(source.client_ids[n])
        return ds.repeat(10).shuffle(500).batch(20).map(map_fn)

    train_data = [client_data(n) for n in range(10)]
    element_spec = train_data[0].element_spec

    keras_model = tf.keras.models.Sequential(
        [
            tf.keras.layers.InputLayer(input_shape=(784,)),
            tf.keras.layers.Dense(units=10, kernel_initializer="zeros"),
            tf.keras.layers.Softmax(),
        ]
    )
    tff_model = tff.learning.models.functional_model_from_keras(
        keras_model,
        loss_fn=tf.keras.losses.SparseCategoricalCrossentropy(),
        input_spec=element_spec,
        metrics_constructor=collections.OrderedDict(
            accuracy=tf.keras.metrics.SparseCategoricalAccuracy
        ),
    )
    trainer = tff.learning.algorithms.build_weighted_fed_avg(
        tff_model, client_optimizer_fn=tff.learning.optimizers.build_sgdm(learning_rate=0.02)
    )

    printed, metrics = [], []

    def evaluate(num_rounds=10):
        state = trainer.initialize()
        for _ in range(num_rounds):
            t1 = time.time()
            result = trainer.next(state, train_data)
            state = result.state
            train_metrics = result.metrics["client_work"]["train"]
            t2 = time.time()
            metrics.append(train_metrics)
            printed.append(
                "train metrics {m}, round time {t:.2f} seconds".format(m=train_metrics, t=t2 - t1)
            )

    evaluate(3)
    sizes = [len(arrays[c]["label"]) for c in source.client_ids[:10]]
    return printed, metrics, sizes


@pytest.mark.slow
def test_rounds_print_tffs_train_metrics(run):
    printed, metrics, sizes = run
    assert printed[0].startswith("train metrics OrderedDict([('accuracy', ")
    assert "round time" in printed[0]
    for train in metrics:
        assert list(train) == ["accuracy", "loss", "num_examples", "num_batches"]
        assert train["num_examples"] == sum(10 * n for n in sizes)
        assert train["num_batches"] == sum(math.ceil(10 * n / 20) for n in sizes)
    assert metrics[0]["loss"] > metrics[1]["loss"] > metrics[2]["loss"]
    assert metrics[2]["accuracy"] > metrics[0]["accuracy"]
