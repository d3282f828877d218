"""`sequential` and `vectorized` give the same client outputs (to 1e-5).

Clients of unequal sizes (so the vectorized cohort masks finished clients), plain,
momentum and Adam client optimizers, a FedProx-style proximal rule, chunked
cohorts, and a model with dropout (per-client random state). The other
algorithms' rules: `test_local_algorithms.py`.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from fedrun.data.client_data import ArrayClientData
from fedrun.data.cohort import build_cohort
from fedrun.data.preprocess import PreprocessConfig
from fedrun.learning.algorithms.fedprox import ProximalRule
from fedrun.models.build import classification_model
from fedrun.models.functional import ModelWeights
from fedrun.optimizers import SGD, Adam
from fedrun.runtime.base import client_seeds
from fedrun.runtime.local import SequentialRuntime, VectorizedRuntime
from fedrun.runtime.trainer import LocalRule, RoundInputs, no_inputs
from tests.conftest import make_arrays

SIZES = {"a": 3, "b": 11, "c": 7, "d": 1, "e": 5}
SPEC = {"x": tf.TensorSpec([6], tf.float32), "y": tf.TensorSpec([], tf.int32)}


@pytest.fixture(scope="module")
def cohort():
    arrays = make_arrays(sum(SIZES.values()), seed=5)
    starts = np.cumsum([0] + list(SIZES.values()))
    data = ArrayClientData(
        arrays, {cid: np.arange(starts[i], starts[i + 1]) for i, cid in enumerate(SIZES)}
    )
    config = PreprocessConfig(epochs=2, batch_size=3, shuffle_buffer=100, flatten=False)
    return build_cohort(data, list(SIZES), config, seed=3, round_num=2)


@pytest.fixture(scope="module")
def dropout_model():
    keras.utils.set_random_seed(1)
    x_in = keras.Input((6,))
    x = keras.layers.Dense(8, activation="relu")(x_in)
    x = keras.layers.Dropout(0.5)(x)
    out = keras.layers.Dense(3, activation="softmax")(x)
    return classification_model(keras.Model(x_in, out), SPEC)


def _weights(model, seed=0):
    rng = np.random.default_rng(seed)
    return ModelWeights(
        [
            tf.constant(rng.normal(size=w.shape).astype(np.float32) * 0.3)
            for w in model.initial_weights.trainable
        ],
        [],
    )


def _inputs(cohort, learning_rate=0.1):
    return no_inputs(
        learning_rate, cohort.num_clients, client_seeds(0, cohort.round_num, cohort.client_ids)
    )


def _train(runtime, model, optimizer, rule, cohort):
    trainer = runtime.make_trainer(model, optimizer, rule)
    return trainer, runtime.train(trainer, _weights(model), cohort, _inputs(cohort))


def _assert_same(a, b):
    for x, y in zip(tf.nest.flatten(a), tf.nest.flatten(b)):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), atol=1e-5, rtol=1e-5)


OPTIMIZERS = [SGD(0.1), SGD(0.1, momentum=0.9), Adam(0.05, 0.9, 0.999, 1e-7, 0.0, True)]
RULES = [LocalRule(), ProximalRule(0.5)]


@pytest.mark.parametrize("pack", [True, False], ids=["packed", "one-lane-each"])
@pytest.mark.parametrize("rule", RULES, ids=["fedavg", "fedprox"])
@pytest.mark.parametrize("optimizer", OPTIMIZERS, ids=["sgd", "momentum", "adam"])
def test_vectorized_matches_sequential(tiny_model, cohort, optimizer, rule, pack):
    _, sequential = _train(SequentialRuntime(), tiny_model, optimizer, rule, cohort)
    trainer, vectorized = _train(
        VectorizedRuntime(pack_clients=pack), tiny_model, optimizer, rule, cohort
    )
    _assert_same(sequential, vectorized)
    assert list(vectorized.num_steps.numpy()) == list(cohort.steps_per_client())
    assert (trainer.packed_lanes is not None) == pack


@pytest.mark.parametrize("lanes", [1, 2, 4], ids=["one-lane", "two-lanes", "four-lanes"])
@pytest.mark.parametrize("jit_compile", [None, False], ids=["xla", "graph"])
def test_packed_lanes_of_any_count_match_sequential(dropout_model, cohort, lanes, jit_compile):
    """Clients one after another in a lane restart from the global weights, a fresh
    optimizer state and their own dropout seeds (momentum shows a missed reset)."""
    optimizer = SGD(0.1, momentum=0.9)
    _, sequential = _train(
        SequentialRuntime(jit_compile), dropout_model, optimizer, LocalRule(), cohort
    )
    runtime = VectorizedRuntime(jit_compile=jit_compile, pack_clients=True)
    trainer = runtime.make_trainer(dropout_model, optimizer, LocalRule())
    trainer.packed_lanes = lanes
    packed = runtime.train(trainer, _weights(dropout_model), cohort, _inputs(cohort))
    _assert_same(sequential, packed)
    assert trainer.packed_lanes == lanes


def test_packed_cohorts_smaller_and_larger_than_the_lanes(tiny_model, cohort):
    """Smaller cohorts pad with clients that train no step; larger ones chunk."""
    optimizer = SGD(0.1, momentum=0.9)
    runtime = VectorizedRuntime(pack_clients=True)
    trainer = runtime.make_trainer(tiny_model, optimizer, LocalRule())
    first = cohort.subset([1, 2, 3])
    runtime.train(trainer, _weights(tiny_model), first, _inputs(first))
    for positions in ([0, 4], [0, 1, 2, 3, 4]):
        part = cohort.subset(positions)
        _, expected = _train(SequentialRuntime(), tiny_model, optimizer, LocalRule(), part)
        got = runtime.train(trainer, _weights(tiny_model), part, _inputs(part))
        _assert_same(expected, got)
    assert trainer.lanes == 3 and trainer.trace_count == 1


def test_chunks_and_padding_match_one_call(tiny_model, cohort):
    optimizer = SGD(0.1, momentum=0.9)
    _, whole = _train(VectorizedRuntime(), tiny_model, optimizer, LocalRule(), cohort)
    trainer, chunked = _train(
        VectorizedRuntime(chunk_size=2), tiny_model, optimizer, LocalRule(), cohort
    )
    _assert_same(whole, chunked)
    assert trainer.lanes == 2


@pytest.mark.parametrize("jit_compile", [None, False], ids=["xla", "graph"])
def test_dropout_is_identical_in_both_runtimes(dropout_model, cohort, jit_compile):
    """Also in graph mode, where a sequential client's last batch is trimmed of padding."""
    _, sequential = _train(
        SequentialRuntime(jit_compile), dropout_model, SGD(0.1), LocalRule(), cohort
    )
    _, vectorized = _train(
        VectorizedRuntime(jit_compile=jit_compile), dropout_model, SGD(0.1), LocalRule(), cohort
    )
    _assert_same(sequential, vectorized)


def test_dropout_differs_between_clients_and_rounds(dropout_model, cohort):
    """The per-client seeds drive dropout: other seeds, other updates."""
    runtime = VectorizedRuntime()
    trainer = runtime.make_trainer(dropout_model, SGD(0.1), LocalRule())
    weights = _weights(dropout_model)
    first = runtime.train(trainer, weights, cohort, _inputs(cohort))
    other_seeds = RoundInputs(
        tf.constant(0.1), (), (), client_seeds(0, cohort.round_num + 1, cohort.client_ids)
    )
    second = runtime.train(trainer, weights, cohort, other_seeds)
    assert not np.allclose(first.update[0].numpy(), second.update[0].numpy())


@pytest.mark.parametrize(
    "runtime", [SequentialRuntime(), VectorizedRuntime()], ids=["sequential", "vectorized"]
)
def test_one_trace_for_cohorts_of_any_schedule(tiny_model, cohort, runtime):
    trainer = runtime.make_trainer(tiny_model, SGD(0.1), LocalRule())
    for positions in ([0, 1, 2, 3, 4], [1, 3], [4, 0, 2]):
        part = cohort.subset(positions)
        runtime.train(trainer, _weights(tiny_model), part, _inputs(part))
    assert trainer.trace_count == 1
