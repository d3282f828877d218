"""Two SCAFFOLD rounds against Karimireddy et al. 2020's Algorithm 1 (option II) in
numpy: corrected local steps, client and server control variates, and clients that
keep their control variate between the rounds they join."""

import numpy as np
import pytest
import tensorflow as tf

from fedrun.learning.algorithms.scaffold import build_scaffold
from fedrun.optimizers import SGD, Adam
from fedrun.runtime.local import SequentialRuntime
from tests.learning.conftest import RUNTIME_IDS, RUNTIMES
from tests.learning.reference import local_training
from tests.runtime.test_variable_trainer import LogReg

LR, SERVER_LR, EPOCHS, BATCH, POPULATION = 0.1, 0.8, 2, 2, 5
COHORTS = [["a", "b"], ["b", "c"]]


def numpy_rounds(problem):
    x = [problem.w0.astype(np.float64), problem.b0.astype(np.float64)]
    c = [np.zeros_like(p) for p in x]
    clients = {}
    for cohort in COHORTS:
        updates, deltas = [], []
        for cid in cohort:
            c_i = clients.get(cid, [np.zeros_like(p) for p in x])

            def corrected(gw, gb, w, b, c_i=c_i):  # g - c_i + c
                return gw - c_i[0] + c[0], gb - c_i[1] + c[1]

            *y, steps, _ = local_training(*x, *problem.client(cid), EPOCHS, BATCH, LR, corrected)
            new_c_i = [ci - cc + (xx - yy) / (steps * LR) for ci, cc, xx, yy in zip(c_i, c, x, y)]
            updates.append([yy - xx for xx, yy in zip(x, y)])
            deltas.append([n - o for n, o in zip(new_c_i, c_i)])
            clients[cid] = new_c_i
        mean_update = [np.mean([u[i] for u in updates], axis=0) for i in range(2)]
        mean_delta = [np.mean([d[i] for d in deltas], axis=0) for i in range(2)]
        x = [xx + SERVER_LR * u for xx, u in zip(x, mean_update)]  # x + eta_g Delta x
        c = [cc + len(cohort) / POPULATION * d for cc, d in zip(c, mean_delta)]  # c + |S|/N Delta c
    return x, c, clients


@pytest.mark.parametrize("runtime", RUNTIMES, ids=RUNTIME_IDS)
def test_two_rounds_match_algorithm_1(tiny_model, tiny_problem, runtime):
    process = build_scaffold(
        tiny_model, SGD(LR), POPULATION, server_optimizer=SGD(SERVER_LR), runtime=runtime
    )
    state = process.set_model_weights(process.initialize(), tiny_problem.weights())
    for round_num, cohort in enumerate(COHORTS, start=1):
        output = process.next(state, tiny_problem.cohort(cohort, EPOCHS, BATCH, round_num))
        state = output.state

    x, c, clients = numpy_rounds(tiny_problem)
    new = process.get_model_weights(state)
    for got, want in zip(new.trainable, x):
        np.testing.assert_allclose(got.numpy(), want, atol=1e-5)
    for got, want in zip(state.client_work["control_variate"], c):
        np.testing.assert_allclose(got.numpy(), want, atol=1e-5)
    store = process.client_states
    assert sorted(store.client_ids) == ["a", "b", "c"]
    stored = store.get(["a", "b", "c"])
    for k, cid in enumerate(["a", "b", "c"]):
        for leaf, want in zip(stored, clients[cid]):
            np.testing.assert_allclose(leaf[k].numpy(), want, atol=1e-4)

    norms = output.metrics["client_work"]["control_variates"]
    np.testing.assert_allclose(
        float(norms["server_norm"]), np.sqrt(sum(np.sum(v**2) for v in c)), rtol=1e-4
    )
    client_norms = [np.sqrt(sum(np.sum(v**2) for v in clients[cid])) for cid in COHORTS[-1]]
    np.testing.assert_allclose(float(norms["client_norm"]), np.mean(client_norms), rtol=1e-4)


def test_type_signature_leaves_client_states_alone(tiny_model, tiny_problem):
    process = build_scaffold(tiny_model, SGD(LR), POPULATION)
    state = process.set_model_weights(process.initialize(), tiny_problem.weights())
    process.next(state, tiny_problem.cohort(["a"], EPOCHS, BATCH))
    before = process.client_states.state_dict()
    assert "client_data" in str(process.next.type_signature)
    after = process.client_states.state_dict()
    assert list(after["client_ids"]) == ["a"]
    for key in before:
        np.testing.assert_array_equal(before[key], after[key])


@pytest.mark.parametrize(
    "optimizer",
    [Adam(0.01, 0.9, 0.999, 1e-7, 0.0, True), SGD(0.1, momentum=0.9)],
    ids=["adam", "sgd-momentum"],
)
def test_rejects_non_sgd_client_optimizer(tiny_model, optimizer):
    with pytest.raises(ValueError, match="plain SGD"):
        build_scaffold(tiny_model, optimizer, POPULATION)


def test_initial_control_variate_is_zero(tiny_model):
    process = build_scaffold(tiny_model, SGD(LR), POPULATION)
    control = process.initialize().client_work["control_variate"]
    assert all(float(tf.reduce_sum(tf.abs(t))) == 0 for t in control)


def test_variable_model_trains_like_the_functional_model(tiny_model, tiny_problem):
    final = []
    for model in (tiny_model, LogReg()):
        process = build_scaffold(
            model, SGD(LR), POPULATION, server_optimizer=SGD(SERVER_LR), runtime=SequentialRuntime()
        )
        state = process.set_model_weights(process.initialize(), tiny_problem.weights())
        for round_num, cohort in enumerate(COHORTS, start=1):
            state = process.next(state, tiny_problem.cohort(cohort, EPOCHS, BATCH, round_num)).state
        final.append((state, process.client_states.get(["a", "b", "c"])))
    (functional, functional_controls), (variable, variable_controls) = final
    for got, want in zip(
        variable.global_model_weights.trainable, functional.global_model_weights.trainable
    ):
        np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-5)
    for got, want in zip(variable_controls, functional_controls):
        np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-4)
