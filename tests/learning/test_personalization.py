"""Personalization evaluation: fine-tune on each client's train split, evaluate its
test split before and after, against numpy."""

import numpy as np
import pytest

from fedrun.data.client_data import ArrayClientData
from fedrun.data.preprocess import PreprocessConfig
from fedrun.learning.personalization import (
    PersonalizationConfig,
    PersonalizationEvaluator,
    personalization_clients,
)
from fedrun.optimizers import SGD
from tests.learning.conftest import RUNTIME_IDS, RUNTIMES
from tests.learning.reference import local_training, softmax

TRAIN = {"a": np.arange(5), "b": np.arange(5, 8)}
TEST = {"a": np.arange(8, 10), "b": np.arange(10, 12)}
CONFIG = PersonalizationConfig(epochs=2, max_steps=3, batch_size=2, learning_rate=0.3)


def numpy_metrics(models, arrays):
    loss, correct, count = 0.0, 0, 0
    for cid, (w, b) in models.items():
        x, y = arrays["x"][TEST[cid]].astype(np.float64), arrays["y"][TEST[cid]]
        p = softmax(x @ w + b)
        loss += float(-np.log(p[np.arange(len(y)), y]).sum())
        correct += int((p.argmax(1) == y).sum())
        count += len(y)
    return loss / count, correct / count, count


@pytest.mark.parametrize("runtime", RUNTIMES, ids=RUNTIME_IDS)
def test_before_and_after_match_numpy(tiny_model, tiny_problem, runtime):
    arrays = tiny_problem.arrays
    train, test = ArrayClientData(arrays, TRAIN), ArrayClientData(arrays, TEST)
    preprocess = PreprocessConfig(shuffle_buffer=0, flatten=False, eval_batch_size=1)
    evaluator = PersonalizationEvaluator(
        tiny_model, SGD(0.01), runtime, train, test, ["a", "b"], CONFIG, preprocess, seed=0
    )
    result = evaluator(tiny_problem.weights())

    w0, b0 = tiny_problem.w0.astype(np.float64), tiny_problem.b0.astype(np.float64)
    before = numpy_metrics({cid: (w0, b0) for cid in TRAIN}, arrays)
    tuned = {}
    for cid, idx in TRAIN.items():
        x, y = arrays["x"][idx].astype(np.float64), arrays["y"][idx]
        take = CONFIG.max_steps * CONFIG.batch_size  # the first 3 steps of 2 epochs
        order = np.tile(np.arange(len(y)), CONFIG.epochs)[:take]
        tuned[cid] = local_training(
            w0, b0, x[order], y[order], 1, CONFIG.batch_size, CONFIG.learning_rate
        )[:2]
    after = numpy_metrics(tuned, arrays)
    for got, want in ((result["before"], before), (result["after"], after)):
        np.testing.assert_allclose(float(got["loss"]), want[0], rtol=1e-5)
        np.testing.assert_allclose(float(got["accuracy"]), want[1], rtol=1e-6)
        assert int(got["num_examples"]) == want[2] == 4
    assert int(result["clients"]) == 2
    assert float(result["after"]["loss"]) != float(result["before"]["loss"])


def test_chooses_clients_holding_both_splits(tiny_problem):
    arrays = tiny_problem.arrays
    train = ArrayClientData(arrays, {"a": np.arange(3), "b": np.arange(3, 5)})
    test = ArrayClientData(
        arrays, {"z": np.arange(5, 6), "a": np.arange(6, 8), "b": np.arange(8, 9)}
    )
    assert personalization_clients(train, test, None) == ["a", "b"]
    assert personalization_clients(train, test, 1) == ["a"]
