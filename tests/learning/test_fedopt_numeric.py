"""Two FedOpt rounds against Reddi et al. 2021's Algorithm 2 server updates in numpy."""

import numpy as np
import pytest

from fedrun.aggregators.build import AggregatorContext
from fedrun.learning.algorithms import ALGORITHMS, AlgorithmContext
from fedrun.learning.algorithms.fedavg import build_fed_avg
from fedrun.learning.algorithms.fedopt import SERVER_OPTIMIZERS
from fedrun.learning.schedules import RoundSchedule
from fedrun.optimizers import SGD
from fedrun.runtime.local import VectorizedRuntime
from tests.learning.conftest import RUNTIME_IDS, RUNTIMES
from tests.learning.reference import local_training

LR, EPOCHS, BATCH = 0.1, 1, 2
ETA, TAU, BETA_1, BETA_2 = 0.05, 1e-3, 0.9, 0.99

SERVERS = {
    "adam": {"type": "adam", "learning_rate": ETA, "tau": TAU, "beta_1": BETA_1, "beta_2": BETA_2},
    "adam-bias-corrected": {
        "type": "adam",
        "learning_rate": ETA,
        "tau": TAU,
        "beta_1": BETA_1,
        "beta_2": BETA_2,
        "bias_correction": True,
    },
    "yogi": {"type": "yogi", "learning_rate": ETA, "tau": TAU, "beta_1": BETA_1, "beta_2": BETA_2},
    "adagrad": {"type": "adagrad", "learning_rate": ETA, "tau": TAU, "beta_1": BETA_1},
    "sgdm": {"type": "sgdm", "learning_rate": ETA, "momentum": BETA_1},
}


def server_step(kind, x, delta, m, v, t):
    """Algorithm 2 with the paper's Delta = -(fedrun's update) and v_{-1} = tau^2."""
    if kind == "sgdm":  # FedAvgM: a = beta a + update; x = x - eta a
        m = BETA_1 * m - delta
        return x - ETA * m, m, v
    m = BETA_1 * m + (1 - BETA_1) * delta
    if kind.startswith("adam"):
        v = BETA_2 * v + (1 - BETA_2) * delta**2
    elif kind == "yogi":
        v = v - (1 - BETA_2) * delta**2 * np.sign(v - delta**2)
    else:
        v = v + delta**2
    eta = ETA
    if kind == "adam-bias-corrected":
        eta = ETA * np.sqrt(1 - BETA_2**t) / (1 - BETA_1**t)
    return x + eta * m / (np.sqrt(v) + TAU), m, v


@pytest.mark.parametrize("runtime", RUNTIMES, ids=RUNTIME_IDS)
@pytest.mark.parametrize("kind", list(SERVERS), ids=list(SERVERS))
def test_two_rounds_match_algorithm_2(tiny_model, tiny_problem, runtime, kind):
    server = SERVER_OPTIMIZERS.build(SERVERS[kind], "algorithm.server_optimizer")
    process = build_fed_avg(tiny_model, SGD(LR), server_optimizer=server, runtime=runtime)
    state = process.set_model_weights(process.initialize(), tiny_problem.weights())
    params = [tiny_problem.w0.astype(np.float64), tiny_problem.b0.astype(np.float64)]
    moments = [[np.zeros_like(p) for p in params], [np.full_like(p, TAU**2) for p in params]]
    counts = np.array([5.0, 3.0])
    for round_num in (1, 2):
        state = process.next(state, tiny_problem.cohort(["a", "b"], EPOCHS, BATCH, round_num)).state
        finals = [
            local_training(*params, *tiny_problem.client(c), EPOCHS, BATCH, LR)[:2]
            for c in ("a", "b")
        ]
        for i in range(2):
            delta = sum(n * (f[i] - params[i]) for n, f in zip(counts, finals)) / counts.sum()
            params[i], moments[0][i], moments[1][i] = server_step(
                kind, params[i], delta, moments[0][i], moments[1][i], round_num
            )
    new = process.get_model_weights(state)
    np.testing.assert_allclose(new.trainable[0].numpy(), params[0], atol=1e-5)
    np.testing.assert_allclose(new.trainable[1].numpy(), params[1], atol=1e-5)


def test_server_schedule_scales_fedopts_own_learning_rate(tiny_model, tiny_problem):
    halving = RoundSchedule(
        1.0, lambda r: 0.5 ** (r - 1)
    )  # built against the top-level server optimizer
    context = AlgorithmContext(
        model=tiny_model,
        client_optimizer=SGD(LR),
        server_optimizer=SGD(1.0),
        aggregator_node={"type": "mean"},
        allowed_targets=(),
        aggregator_context=AggregatorContext(),
        runtime=VectorizedRuntime(),
        server_lr_schedule=halving,
    )
    node = {
        "type": "fedopt",
        "server_optimizer": {"type": "sgdm", "learning_rate": ETA, "momentum": 0.0},
    }
    process = ALGORITHMS.build(node, "algorithm", context=context)
    state = process.set_model_weights(process.initialize(), tiny_problem.weights())
    params = [tiny_problem.w0.astype(np.float64), tiny_problem.b0.astype(np.float64)]
    counts = np.array([5.0, 3.0])
    for round_num, eta in ((1, ETA), (2, ETA / 2)):
        state = process.next(state, tiny_problem.cohort(["a", "b"], EPOCHS, BATCH, round_num)).state
        finals = [
            local_training(*params, *tiny_problem.client(c), EPOCHS, BATCH, LR)[:2]
            for c in ("a", "b")
        ]
        params = [
            p + eta * sum(n * (f[i] - p) for n, f in zip(counts, finals)) / counts.sum()
            for i, p in enumerate(params)
        ]
    new = process.get_model_weights(state)
    np.testing.assert_allclose(new.trainable[0].numpy(), params[0], atol=1e-5)
