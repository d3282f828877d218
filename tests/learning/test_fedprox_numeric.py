"""One FedProx round against the proximal local steps computed in numpy."""

import numpy as np
import pytest

from fedrun.learning.algorithms.fedprox import ProximalRule, build_fed_prox
from fedrun.optimizers import SGD
from tests.learning.conftest import RUNTIME_IDS, RUNTIMES
from tests.learning.reference import local_training

MU, LR, EPOCHS, BATCH = 0.5, 0.1, 2, 2


@pytest.mark.parametrize("runtime", RUNTIMES, ids=RUNTIME_IDS)
def test_round_matches_proximal_gradient_steps(tiny_model, tiny_problem, runtime):
    process = build_fed_prox(tiny_model, SGD(LR), MU, runtime=runtime)
    state = process.set_model_weights(process.initialize(), tiny_problem.weights())
    output = process.next(state, tiny_problem.cohort(["a", "b"], EPOCHS, BATCH))

    w0, b0 = tiny_problem.w0.astype(np.float64), tiny_problem.b0.astype(np.float64)

    def proximal(gw, gb, w, b):  # Li et al. 2020: grad F_k(w) + mu (w - w_t)
        return gw + MU * (w - w0), gb + MU * (b - b0)

    results = [
        local_training(w0, b0, *tiny_problem.client(c), EPOCHS, BATCH, LR, proximal)
        for c in ("a", "b")
    ]
    counts = np.array([10.0, 6.0])  # examples processed over 2 epochs
    expected_w = w0 - sum(n * (w0 - r[0]) for n, r in zip(counts, results)) / counts.sum()
    expected_b = b0 - sum(n * (b0 - r[1]) for n, r in zip(counts, results)) / counts.sum()
    new = process.get_model_weights(output.state)
    np.testing.assert_allclose(new.trainable[0].numpy(), expected_w, atol=1e-5)
    np.testing.assert_allclose(new.trainable[1].numpy(), expected_b, atol=1e-5)
    train = output.metrics["client_work"]["train"]
    np.testing.assert_allclose(
        float(train["loss"]), sum(r[3] for r in results) / counts.sum(), rtol=1e-5
    )


def test_marks_partial_work_as_accepted(tiny_model):
    assert build_fed_prox(tiny_model, SGD(LR), 0.1).accepts_partial_work


def test_rejects_negative_mu():
    with pytest.raises(ValueError, match="mu"):
        ProximalRule(-0.1)
