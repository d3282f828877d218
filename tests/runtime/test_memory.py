"""The memory budget: sizes, estimates, and chunked runs equal to unchunked ones."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from fedrun.config.errors import ConfigError
from fedrun.data.client_data import ArrayClientData
from fedrun.data.cohort import build_cohort, build_eval_cohort
from fedrun.data.preprocess import PreprocessConfig
from fedrun.models.build import classification_model
from fedrun.models.functional import ModelWeights
from fedrun.optimizers import SGD
from fedrun.runtime import memory
from fedrun.runtime.base import client_seeds
from fedrun.runtime.local import VectorizedParams, VectorizedRuntime
from fedrun.runtime.trainer import LocalRule, no_inputs
from tests.conftest import make_arrays

SIZES = {f"c{i}": n for i, n in enumerate([3, 40, 7, 1, 25, 12, 5, 9])}
SPEC = {"x": tf.TensorSpec([6], tf.float32), "y": tf.TensorSpec([], tf.int32)}


@pytest.fixture(scope="module")
def data():
    arrays = make_arrays(sum(SIZES.values()), seed=2)
    starts = np.cumsum([0] + list(SIZES.values()))
    return ArrayClientData(
        arrays, {cid: np.arange(starts[i], starts[i + 1]) for i, cid in enumerate(SIZES)}
    )


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(3)
    x_in = keras.Input((6,))
    x = keras.layers.Dense(16, activation="relu")(x_in)
    return classification_model(
        keras.Model(x_in, keras.layers.Dense(3, activation="softmax")(x)), SPEC
    )


def _weights(model):
    rng = np.random.default_rng(0)
    return ModelWeights(
        [
            tf.constant(rng.normal(size=w.shape).astype(np.float32) * 0.3)
            for w in model.initial_weights.trainable
        ],
        [],
    )


@pytest.mark.parametrize(
    "value, expected",
    [(None, None), (1000, 1000), ("4GB", 4 * 10**9), ("512MiB", 512 * 2**20), ("1.5 kb", 1500)],
    ids=["null", "int", "gb", "mib", "decimal-lowercase"],
)
def test_parse_budget(value, expected):
    assert memory.parse_budget(value) == expected


@pytest.mark.parametrize(
    "value", ["lots", "4XB", 0, -5, True], ids=["word", "unit", "zero", "negative", "bool"]
)
def test_bad_budget_names_the_key(value):
    with pytest.raises(ConfigError, match="runtime.memory_budget"):
        VectorizedParams(memory_budget=value)


def test_too_small_budget_names_the_smallest_that_works(model):
    runtime = VectorizedRuntime(memory_budget=100)
    with pytest.raises(
        ConfigError, match=r"runtime\.memory_budget.*allowed: >= [0-9.]+[KMG]?B"
    ) as err:
        runtime.check_memory(model, SGD(0.1), 20, 100)
    smallest = memory.parse_budget(err.value.allowed.removeprefix(">= "))
    VectorizedRuntime(memory_budget=smallest).check_memory(model, SGD(0.1), 20, 100)


def test_lane_cost_counts_weights_slots_and_activations(model):
    train, evaluate = (
        memory.LaneCost.of(model, SGD(0.1, momentum=0.9), True),
        memory.LaneCost.of(model, None, False),
    )
    params = 6 * 16 + 16 + 16 * 3 + 3
    assert train.fixed == 4 * params * 6  # five weight copies and the momentum slot
    assert evaluate.fixed == 4 * params
    assert train.per_example > evaluate.per_example > 0
    assert train.bytes(20, 3) == train.fixed + 20 * train.per_example + 3 * 20 * 12


@pytest.mark.parametrize("unroll", [True, False], ids=["unrolled", "loop"])
def test_unrolled_recurrent_layers_count_a_weight_gradient_per_time_step(unroll):
    x_in = keras.Input((7, 2))
    x = keras.layers.LSTM(3, unroll=unroll, return_sequences=True)(x_in)
    keras_model = keras.Model(x_in, keras.layers.Dense(2)(x))
    lstm_params = 4 * 3 * (2 + 3 + 1)
    assert memory.recurrent_gradient_bytes(keras_model) == (7 * 4 * lstm_params if unroll else 0)


def test_chunked_evaluation_equals_one_call(model, data):
    cohort = build_eval_cohort(data, list(SIZES), batch_size=8)
    weights = _weights(model)
    whole = VectorizedRuntime(memory_budget="10GB")
    one = whole.evaluate(whole.make_trainer(model, None, LocalRule()), weights, cohort)
    cost = memory.LaneCost.of(model, None, False)
    small = VectorizedRuntime(memory_budget=cost.bytes(8, 5) * 2)  # two lanes of the longest client
    trainer = small.make_trainer(model, None, LocalRule())
    plan = memory.evaluation_chunks(cohort, cost.bytes, small.memory_budget)
    assert len(plan) > 2 and sorted(p for c in plan for p in c) == list(range(len(SIZES)))
    chunked = small.evaluate(trainer, weights, cohort)
    for a, b in zip(tf.nest.flatten(one), tf.nest.flatten(chunked)):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-6)
    assert int(tf.reduce_sum(chunked["num_examples"][0])) == sum(SIZES.values())


def test_chunked_training_equals_one_call(model, data):
    config = PreprocessConfig(epochs=2, batch_size=4, shuffle_buffer=100, flatten=False)
    cohort = build_cohort(data, list(SIZES), config, seed=1, round_num=1)
    inputs = no_inputs(0.1, cohort.num_clients, client_seeds(0, 1, cohort.client_ids))
    weights = _weights(model)
    outputs = []
    for budget in (
        "10GB",
        memory.LaneCost.of(model, SGD(0.1), True).bytes(4, int(cohort.index.shape[1])) * 3,
    ):
        runtime = VectorizedRuntime(memory_budget=budget)
        outputs.append(
            runtime.train(
                runtime.make_trainer(model, SGD(0.1), LocalRule()), weights, cohort, inputs
            )
        )
    assert runtime.trainers[0].lanes == 3
    for a, b in zip(tf.nest.flatten(outputs[0]), tf.nest.flatten(outputs[1])):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)


def test_trim_batches_keeps_real_examples(data):
    cohort = build_eval_cohort(data, ["c0", "c3", "c6"], batch_size=32)
    trimmed = memory.trim_batches(cohort)
    assert trimmed.index.shape[2] == 8  # 5 examples at most, rounded up to a power of two
    assert float(tf.reduce_sum(trimmed.mask)) == float(tf.reduce_sum(cohort.mask)) == 9.0


def test_peak_rss_is_about_the_resident_memory_or_more():
    """The kernel updates the peak lazily (a few pages behind the resident set)."""
    import os

    with open("/proc/self/statm", encoding="ascii") as f:
        resident = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    assert memory.peak_rss_bytes() >= 0.95 * resident
