"""One FedAvg round against the same round computed by hand in numpy."""

import numpy as np
import pytest
import tensorflow as tf

from fedrun.data.client_data import ArrayClientData
from fedrun.data.cohort import build_cohort
from fedrun.data.preprocess import PreprocessConfig
from fedrun.learning.algorithms.fedavg import build_unweighted_fed_avg, build_weighted_fed_avg
from fedrun.models.functional import ModelWeights
from fedrun.optimizers import SGD
from fedrun.runtime.local import SequentialRuntime, VectorizedRuntime
from tests.conftest import make_arrays

CLIENT_LR = 0.1
EPOCHS, BATCH = 2, 2


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def numpy_client(w, b, x, y):
    """Local SGD over `repeat(EPOCHS).batch(BATCH)` (batches cross epochs)."""
    order = np.tile(np.arange(len(y)), EPOCHS)
    losses, correct = [], 0
    for start in range(0, len(order), BATCH):
        idx = order[start : start + BATCH]
        xb, yb = x[idx], y[idx]
        p = softmax(xb @ w + b)
        onehot = np.eye(w.shape[1])[yb]
        losses.extend(-np.log(p[np.arange(len(yb)), yb]))
        correct += int(np.sum(p.argmax(1) == yb))
        grad = (p - onehot) / len(yb)
        w, b = w - CLIENT_LR * xb.T @ grad, b - CLIENT_LR * grad.sum(0)
    return w, b, np.sum(losses), correct, len(order), -(-len(order) // BATCH)


@pytest.fixture(scope="module")
def setup(tiny_model):
    arrays = make_arrays(8, seed=3)
    data = ArrayClientData(arrays, {"a": np.arange(5), "b": np.arange(5, 8)})
    config = PreprocessConfig(epochs=EPOCHS, batch_size=BATCH, shuffle_buffer=0, flatten=False)
    cohort = build_cohort(data, ["a", "b"], config, seed=0, round_num=1)
    rng = np.random.default_rng(7)
    w0 = rng.normal(size=(6, 3)).astype(np.float32) * 0.3
    b0 = rng.normal(size=(3,)).astype(np.float32) * 0.3
    return arrays, cohort, w0, b0


@pytest.mark.parametrize(
    "runtime", [SequentialRuntime(), VectorizedRuntime()], ids=["sequential", "vectorized"]
)
@pytest.mark.parametrize("weighted", [True, False], ids=["weighted", "unweighted"])
def test_round_matches_numpy(tiny_model, setup, runtime, weighted):
    arrays, cohort, w0, b0 = setup
    build = build_weighted_fed_avg if weighted else build_unweighted_fed_avg
    process = build(tiny_model, SGD(CLIENT_LR), runtime=runtime)
    state = process.set_model_weights(
        process.initialize(), ModelWeights([tf.constant(w0), tf.constant(b0)], [])
    )
    output = process.next(state, cohort)

    results = [
        numpy_client(w0, b0, arrays["x"][idx], arrays["y"][idx])
        for idx in (np.arange(5), np.arange(5, 8))
    ]
    weights = np.array([r[4] for r in results], float) if weighted else np.ones(2)
    delta_w = sum(wt * (w0 - r[0]) for wt, r in zip(weights, results)) / weights.sum()
    delta_b = sum(wt * (b0 - r[1]) for wt, r in zip(weights, results)) / weights.sum()
    new = process.get_model_weights(output.state)
    np.testing.assert_allclose(new.trainable[0].numpy(), w0 - delta_w, atol=1e-5)
    np.testing.assert_allclose(new.trainable[1].numpy(), b0 - delta_b, atol=1e-5)

    train = output.metrics["client_work"]["train"]
    num_examples = sum(r[4] for r in results)
    assert int(train["num_examples"]) == num_examples == 16
    assert int(train["num_batches"]) == sum(r[5] for r in results) == 8
    np.testing.assert_allclose(
        float(train["loss"]), sum(r[2] for r in results) / num_examples, rtol=1e-5
    )
    np.testing.assert_allclose(
        float(train["accuracy"]), sum(r[3] for r in results) / num_examples, rtol=1e-6
    )
    assert int(output.metrics["finalizer"]["update_non_finite"]) == 0
