"""Functional optimizers against their update rules in numpy; stacked == per-model."""

import numpy as np
import pytest
import tensorflow as tf

from fedrun.config.errors import ConfigError
from fedrun.optimizers import OPTIMIZERS, SGD, Adagrad, Adam, Yogi

RNG = np.random.default_rng(0)
W0 = RNG.normal(size=(3, 2)).astype(np.float32)
GRADS = [RNG.normal(size=(3, 2)).astype(np.float32) for _ in range(3)]


def numpy_sgd(lr, momentum, nesterov):
    w, acc = W0.copy(), np.zeros_like(W0)
    for g in GRADS:
        acc = momentum * acc + g
        w = w - lr * (g + momentum * acc if nesterov else acc)
    return w


def numpy_adaptive(lr, b1, b2, eps, v0, yogi, bias_correction):
    w, m, v = W0.copy(), np.zeros_like(W0), np.full_like(W0, v0)
    for t, g in enumerate(GRADS, start=1):
        m = b1 * m + (1 - b1) * g
        v = v - (1 - b2) * np.sign(v - g * g) * g * g if yogi else b2 * v + (1 - b2) * g * g
        step = lr * np.sqrt(1 - b2**t) / (1 - b1**t) if bias_correction else lr
        w = w - step * m / (np.sqrt(v) + eps)
    return w


def numpy_adagrad(lr, acc0, eps):
    w, acc = W0.copy(), np.full_like(W0, acc0)
    for g in GRADS:
        acc = acc + g * g
        w = w - lr * g / (np.sqrt(acc) + eps)
    return w


def run(optimizer):
    state = optimizer.initialize([tf.TensorSpec(W0.shape)])
    weights = [tf.constant(W0)]
    for g in GRADS:
        state, weights = optimizer.next(state, weights, [tf.constant(g)])
    return weights[0].numpy()


CASES = [
    (SGD(0.1), numpy_sgd(0.1, 0.0, False)),
    (SGD(0.1, momentum=0.9), numpy_sgd(0.1, 0.9, False)),
    (SGD(0.1, momentum=0.9, nesterov=True), numpy_sgd(0.1, 0.9, True)),
    (
        Adam(0.01, 0.9, 0.999, 1e-7, 0.0, True),
        numpy_adaptive(0.01, 0.9, 0.999, 1e-7, 0.0, False, True),
    ),
    (
        Adam(0.01, 0.9, 0.99, 1e-3, 0.0, False),
        numpy_adaptive(0.01, 0.9, 0.99, 1e-3, 0.0, False, False),
    ),
    (
        Yogi(0.01, 0.9, 0.99, 1e-3, 1e-6, False),
        numpy_adaptive(0.01, 0.9, 0.99, 1e-3, 1e-6, True, False),
    ),
    (Adagrad(0.1, 0.1, 1e-7), numpy_adagrad(0.1, 0.1, 1e-7)),
]


@pytest.mark.parametrize(
    "optimizer, expected",
    CASES,
    ids=["sgd", "momentum", "nesterov", "adam", "adam-no-bias-correction", "yogi", "adagrad"],
)
def test_matches_numpy(optimizer, expected):
    np.testing.assert_allclose(run(optimizer), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "optimizer",
    [c[0] for c in CASES],
    ids=["sgd", "momentum", "nesterov", "adam", "adam-nbc", "yogi", "adagrad"],
)
def test_stacked_clients_step_independently(optimizer):
    stacked_w = tf.constant(np.stack([W0, W0 * 2]))
    state = optimizer.initialize([stacked_w], batch_shape=[2])
    state["learning_rate"] = tf.constant([0.1, 0.05])
    grads = [tf.constant(np.stack([GRADS[0], GRADS[1]]))]
    _, (new,) = optimizer.next(state, [stacked_w], grads)
    for k, (w, g, lr) in enumerate([(W0, GRADS[0], 0.1), (W0 * 2, GRADS[1], 0.05)]):
        single = optimizer.initialize([tf.TensorSpec(W0.shape)])
        single["learning_rate"] = tf.constant(lr)
        _, (expected,) = optimizer.next(single, [tf.constant(w)], [tf.constant(g)])
        np.testing.assert_allclose(new[k].numpy(), expected.numpy(), rtol=1e-6)


def test_registry_validates_ranges():
    with pytest.raises(ConfigError, match="client_optimizer.momentum"):
        OPTIMIZERS.build({"type": "sgd", "momentum": 1.5}, "client_optimizer")
    with pytest.raises(ConfigError, match="allowed: adagrad, adam, sgd, sgdm, yogi"):
        OPTIMIZERS.build({"type": "lamb"}, "client_optimizer")


def numpy_fedadagrad(lr, b1, tau):
    w, m, v = W0.copy(), np.zeros_like(W0), np.full_like(W0, tau**2)
    for g in GRADS:
        m = b1 * m + (1 - b1) * g
        v = v + g * g
        w = w - lr * m / (np.sqrt(v) + tau)
    return w


@pytest.mark.parametrize(
    "node, expected, slots",
    [
        (
            {"type": "adam", "learning_rate": 0.01, "tau": 1e-2},
            numpy_adaptive(0.01, 0.9, 0.999, 1e-2, 1e-4, False, False),
            {"learning_rate", "step", "m", "v"},
        ),
        (
            {"type": "adam", "learning_rate": 0.01, "tau": 1e-2, "bias_correction": True},
            numpy_adaptive(0.01, 0.9, 0.999, 1e-2, 1e-4, False, True),
            {"learning_rate", "step", "m", "v"},
        ),
        (
            {"type": "yogi", "learning_rate": 0.01, "tau": 1e-2},
            numpy_adaptive(0.01, 0.9, 0.99, 1e-2, 1e-4, True, False),
            {"learning_rate", "step", "m", "v"},
        ),
        (
            {"type": "adagrad", "learning_rate": 0.1, "tau": 1e-2, "beta_1": 0.9},
            numpy_fedadagrad(0.1, 0.9, 1e-2),
            {"learning_rate", "m", "v"},
        ),
        (
            {"type": "adagrad", "learning_rate": 0.1, "tau": 1e-2},
            numpy_fedadagrad(0.1, 0.0, 1e-2),
            {"learning_rate", "m", "v"},
        ),
        (
            {"type": "adam", "learning_rate": 0.01},
            numpy_adaptive(0.01, 0.9, 0.999, 1e-7, 0.0, False, True),
            {"learning_rate", "step", "m", "v"},
        ),
        (
            {"type": "yogi"},
            numpy_adaptive(0.01, 0.9, 0.99, 1e-3, 1e-6, True, True),
            {"learning_rate", "step", "m", "v"},
        ),
        (
            {"type": "adagrad", "learning_rate": 0.1},
            numpy_adagrad(0.1, 0.1, 1e-7),
            {"learning_rate", "accumulator"},
        ),
        (
            {"type": "sgdm", "learning_rate": 0.1, "momentum": 0.9},
            numpy_sgd(0.1, 0.9, False),
            {"learning_rate", "momentum"},
        ),
    ],
    ids=[
        "adam-tau",
        "adam-tau-bias-corrected",
        "yogi-tau",
        "fedadagrad",
        "fedadagrad-no-first-moment",
        "adam-defaults",
        "yogi-defaults",
        "adagrad-defaults",
        "sgdm",
    ],
)
def test_registry_options_match_numpy_and_keep_their_state_keys(node, expected, slots):
    optimizer = OPTIMIZERS.build(node, "server_optimizer")
    assert set(optimizer.initialize([tf.TensorSpec(W0.shape)])) == slots
    np.testing.assert_allclose(run(optimizer), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "node, message",
    [
        ({"type": "adam", "tau": 1e-3, "epsilon": 1e-3}, "set tau or epsilon, not both"),
        (
            {"type": "yogi", "tau": 1e-3, "initial_preconditioner_value": 0.0},
            "set tau or initial_preconditioner_value, not both",
        ),
        ({"type": "adagrad", "beta_1": 0.9}, "beta_1 is FedAdagrad's"),
    ],
    ids=["adam-tau-epsilon", "yogi-tau-start", "adagrad-beta-1-without-tau"],
)
def test_registry_refuses_tau_beside_what_it_sets(node, message):
    with pytest.raises(ConfigError, match=message) as caught:
        OPTIMIZERS.build(node, "server_optimizer")
    assert caught.value.path == "server_optimizer"
