"""One FedSGD round against the example-weighted full-data gradient step in numpy."""

import numpy as np
import pytest

from fedrun.learning.algorithms.fedsgd import build_fed_sgd
from fedrun.optimizers import SGD
from tests.learning.conftest import RUNTIME_IDS, RUNTIMES
from tests.learning.reference import full_gradient

SERVER_LR, BATCH = 0.7, 2


@pytest.mark.parametrize("runtime", RUNTIMES, ids=RUNTIME_IDS)
def test_round_is_one_full_gradient_step(tiny_model, tiny_problem, runtime):
    process = build_fed_sgd(tiny_model, SGD(0.1), server_optimizer=SGD(SERVER_LR), runtime=runtime)
    state = process.set_model_weights(process.initialize(), tiny_problem.weights())
    output = process.next(state, tiny_problem.cohort(["a", "b", "c"], epochs=1, batch=BATCH))

    w0, b0 = tiny_problem.w0.astype(np.float64), tiny_problem.b0.astype(np.float64)
    grads = {c: full_gradient(w0, b0, *tiny_problem.client(c)) for c in ("a", "b", "c")}
    counts = {"a": 5, "b": 3, "c": 4}
    total = sum(counts.values())
    # McMahan et al. 2017: w <- w - eta * sum_k (n_k / n) grad F_k(w).
    mean_w = sum(counts[c] * grads[c][0] for c in counts) / total
    mean_b = sum(counts[c] * grads[c][1] for c in counts) / total
    new = process.get_model_weights(output.state)
    np.testing.assert_allclose(new.trainable[0].numpy(), w0 - SERVER_LR * mean_w, atol=1e-5)
    np.testing.assert_allclose(new.trainable[1].numpy(), b0 - SERVER_LR * mean_b, atol=1e-5)

    train = output.metrics["client_work"]["train"]
    assert int(train["num_examples"]) == total
    assert int(train["num_batches"]) == 3 + 2 + 2
    np.testing.assert_allclose(
        float(train["loss"]), sum(g[2] for g in grads.values()) / total, rtol=1e-5
    )
