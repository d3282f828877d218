"""Two Mime Lite rounds against Karimireddy et al.'s MimeLite with SGD momentum,
written in the paper's dampened form, in numpy."""

import numpy as np
import pytest

from fedrun.learning.algorithms.mime_lite import build_mime_lite
from fedrun.optimizers import SGD, Adam
from fedrun.runtime.local import SequentialRuntime
from tests.learning.conftest import RUNTIME_IDS, RUNTIMES
from tests.learning.reference import full_gradient, local_training
from tests.runtime.test_variable_trainer import LogReg

ETA, BETA, EPOCHS, BATCH = 0.2, 0.6, 2, 2
COHORTS = [["a", "b"], ["b", "c"]]


def numpy_rounds(problem):
    """Clients: y <- y - eta ((1 - beta) g + beta m), m frozen; server: x = mean y,
    m <- beta m + (1 - beta) mean full-batch gradient at x."""
    x = [problem.w0.astype(np.float64), problem.b0.astype(np.float64)]
    m = [np.zeros_like(p) for p in x]
    for cohort in COHORTS:
        finals, grads = [], []
        for cid in cohort:
            grads.append(full_gradient(*x, *problem.client(cid))[:2])

            def mimic(gw, gb, w, b):
                return (1 - BETA) * gw + BETA * m[0], (1 - BETA) * gb + BETA * m[1]

            finals.append(local_training(*x, *problem.client(cid), EPOCHS, BATCH, ETA, mimic)[:2])
        x = [np.mean([f[i] for f in finals], axis=0) for i in range(2)]
        m = [BETA * m[i] + (1 - BETA) * np.mean([g[i] for g in grads], axis=0) for i in range(2)]
    return x, m


@pytest.mark.parametrize("runtime", RUNTIMES, ids=RUNTIME_IDS)
def test_two_rounds_match_mime_lite(tiny_model, tiny_problem, runtime):
    # fedrun's heavy-ball momentum a = m / (1 - beta) with lr = eta (1 - beta) is the same method.
    process = build_mime_lite(
        tiny_model, SGD(ETA * (1 - BETA), momentum=BETA), runtime=runtime, weighted=False
    )
    state = process.set_model_weights(process.initialize(), tiny_problem.weights())
    for round_num, cohort in enumerate(COHORTS, start=1):
        output = process.next(state, tiny_problem.cohort(cohort, EPOCHS, BATCH, round_num))
        state = output.state

    x, m = numpy_rounds(tiny_problem)
    new = process.get_model_weights(state)
    for got, want in zip(new.trainable, x):
        np.testing.assert_allclose(got.numpy(), want, atol=1e-5)
    for got, want in zip(state.client_work["momentum"], m):
        np.testing.assert_allclose(got.numpy() * (1 - BETA), want, atol=1e-5)
    metrics = output.metrics["client_work"]
    assert set(metrics) == {"train", "full_gradient_norm", "momentum_norm"}
    assert int(metrics["train"]["num_examples"]) == 2 * (3 + 4)


@pytest.mark.parametrize(
    "optimizer",
    [Adam(0.01, 0.9, 0.999, 1e-7, 0.0, True), SGD(0.1, momentum=0.9, nesterov=True)],
    ids=["adam", "nesterov"],
)
def test_rejects_base_optimizers_beyond_sgd_momentum(tiny_model, optimizer):
    with pytest.raises(ValueError, match="SGD-momentum"):
        build_mime_lite(tiny_model, optimizer)


def test_variable_model_trains_like_the_functional_model(tiny_model, tiny_problem):
    final = []
    for model in (tiny_model, LogReg()):
        process = build_mime_lite(model, SGD(ETA, momentum=BETA), runtime=SequentialRuntime())
        state = process.set_model_weights(process.initialize(), tiny_problem.weights())
        for round_num, cohort in enumerate(COHORTS, start=1):
            state = process.next(state, tiny_problem.cohort(cohort, EPOCHS, BATCH, round_num)).state
        final.append(state)
    functional, variable = final
    for got, want in zip(
        variable.global_model_weights.trainable, functional.global_model_weights.trainable
    ):
        np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-5)
    for got, want in zip(variable.client_work["momentum"], functional.client_work["momentum"]):
        np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-5)
