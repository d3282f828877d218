"""FedOpt's server optimizer: the server_optimizer group, and the old algorithm node."""

import numpy as np
import pytest

from fedrun.aggregators.mean import MeanFactory
from fedrun.app.schema import validate
from fedrun.cli import compose_config
from fedrun.config.errors import ConfigError
from fedrun.learning.algorithms import ALGORITHMS, AlgorithmContext
from fedrun.learning.algorithms.fedavg import build_fed_avg
from fedrun.learning.algorithms.fedopt import FedOptParams, server_optimizer_choice
from fedrun.optimizers import OPTIMIZERS, SGD, AdamParams, FedAdagrad, SGDParams
from fedrun.runtime.local import VectorizedRuntime

PRESETS = {
    "fedadam": "adam",
    "fedyogi": "yogi",
    "fedadagrad": "adagrad",
    "fedavgm": "sgdm",
    "fedopt": "adam",
}


@pytest.mark.parametrize("preset", list(PRESETS), ids=list(PRESETS))
def test_presets_select_the_server_optimizer_group_and_its_overrides(preset):
    spec = validate(compose_config([f"algorithm={preset}", "server_optimizer.learning_rate=0.5"]))
    assert spec.algorithm.name == "fedopt" and spec.algorithm.params.server_optimizer is None
    assert spec.server_optimizer.name == PRESETS[preset]
    assert spec.server_optimizer.build().learning_rate == 0.5


def test_fedopt_trains_with_the_contexts_server_optimizer(tiny_model, tiny_problem):
    server = SGD(0.5, momentum=0.9)
    context = AlgorithmContext(
        model=tiny_model,
        client_optimizer=SGD(0.1),
        server_optimizer=server,
        aggregator=MeanFactory(),
        runtime=VectorizedRuntime(),
        num_clients=2,
    )
    processes = [
        ALGORITHMS.build({"type": "fedopt"}, "algorithm", context=context),
        build_fed_avg(tiny_model, SGD(0.1), server_optimizer=server, runtime=VectorizedRuntime()),
    ]
    finals = []
    for process in processes:
        state = process.set_model_weights(process.initialize(), tiny_problem.weights())
        for round_num in (1, 2):
            cohort = tiny_problem.cohort(["a", "b"], 1, 2, round_num)
            state = process.next(state, cohort).state
        finals.append([w.numpy() for w in process.get_model_weights(state).trainable])
    for fedopt, fedavg in zip(*finals):
        np.testing.assert_array_equal(fedopt, fedavg)


@pytest.mark.parametrize(
    "node, params",
    [
        (
            {"type": "adam"},
            AdamParams(learning_rate=0.01, tau=1e-3, beta_1=0.9, beta_2=0.99),
        ),
        ({"type": "sgdm"}, SGDParams(learning_rate=1.0, momentum=0.9)),
        (
            {"type": "adam", "learning_rate": 0.1, "bias_correction": True},
            AdamParams(learning_rate=0.1, tau=1e-3, beta_1=0.9, beta_2=0.99, bias_correction=True),
        ),
    ],
    ids=["adam", "sgdm", "adam-own-values"],
)
def test_an_algorithm_node_keeps_the_defaults_it_had(node, params):
    assert server_optimizer_choice(node).params == params


def test_an_algorithm_node_of_adagrad_is_fedadagrad():
    assert isinstance(server_optimizer_choice({"type": "adagrad"}).build(), FedAdagrad)
    assert OPTIMIZERS.entry("adagrad", "") is server_optimizer_choice({"type": "adagrad"}).entry


def test_a_partial_algorithm_node_names_the_group():
    with pytest.raises(ConfigError, match="server_optimizer.<key>") as caught:
        FedOptParams(server_optimizer={"learning_rate": 0.1})
    assert caught.value.path == "algorithm.server_optimizer"
