"""`sequential` and `vectorized` agree (to 1e-5) for every algorithm's local rule:
FedProx's proximal term, FedSGD's full gradient, SCAFFOLD's control variates
(per-client inputs and extra outputs), Mime Lite's frozen momentum."""

import numpy as np
import pytest
import tensorflow as tf

from fedrun.data.client_data import ArrayClientData
from fedrun.data.cohort import build_cohort
from fedrun.data.preprocess import PreprocessConfig
from fedrun.learning.algorithms.fedprox import ProximalRule
from fedrun.learning.algorithms.fedsgd import FullGradientRule
from fedrun.learning.algorithms.mime_lite import FrozenMomentumRule
from fedrun.learning.algorithms.scaffold import ControlVariateRule
from fedrun.models.functional import ModelWeights
from fedrun.optimizers import SGD
from fedrun.runtime.base import client_seeds
from fedrun.runtime.local import SequentialRuntime, VectorizedRuntime
from fedrun.runtime.trainer import RoundInputs
from tests.conftest import make_arrays

SIZES = {"a": 4, "b": 9, "c": 2, "d": 6}


@pytest.fixture(scope="module")
def cohort():
    arrays = make_arrays(sum(SIZES.values()), seed=8)
    starts = np.cumsum([0] + list(SIZES.values()))
    data = ArrayClientData(
        arrays, {cid: np.arange(starts[i], starts[i + 1]) for i, cid in enumerate(SIZES)}
    )
    config = PreprocessConfig(epochs=2, batch_size=3, shuffle_buffer=100, flatten=False)
    return build_cohort(data, list(SIZES), config, seed=1, round_num=3)


def _like_weights(model, seed, clients=None):
    rng = np.random.default_rng(seed)
    shape = lambda w: ([clients] if clients else []) + list(w.shape)  # noqa: E731
    return [
        tf.constant(rng.normal(size=shape(w)).astype(np.float32) * 0.1)
        for w in model.initial_weights.trainable
    ]


def _inputs(model, cohort, rule_name):
    seeds = client_seeds(0, cohort.round_num, cohort.client_ids)
    broadcast, per_client = (), ()
    if rule_name in ("scaffold", "mime_lite"):
        broadcast = _like_weights(model, 1)
    if rule_name == "scaffold":
        per_client = _like_weights(model, 2, cohort.num_clients)
    return RoundInputs(tf.constant(0.1), broadcast, per_client, seeds)


RULES = {
    "fedprox": lambda: ProximalRule(0.3),
    "fedsgd": FullGradientRule,
    "scaffold": ControlVariateRule,
    "mime_lite": lambda: FrozenMomentumRule(0.9),
}


@pytest.mark.parametrize("rule_name", list(RULES), ids=list(RULES))
def test_vectorized_matches_sequential(tiny_model, cohort, rule_name):
    weights = ModelWeights(_like_weights(tiny_model, 0), [])
    inputs = _inputs(tiny_model, cohort, rule_name)
    results = []
    for runtime in (SequentialRuntime(), VectorizedRuntime(chunk_size=3)):
        trainer = runtime.make_trainer(tiny_model, SGD(0.1), RULES[rule_name]())
        results.append(runtime.train(trainer, weights, cohort, inputs))
    for a, b in zip(tf.nest.flatten(results[0]), tf.nest.flatten(results[1])):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5, rtol=1e-5)
