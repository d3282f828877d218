"""Why checkpoints hold no random-number state: every random choice in a round is a
function of (config seed, round, client id) or of the process state. The same round
from the same state gives the same bits, whatever the global random generators did
in between; this is checked for every algorithm and aggregator option shipped in
`conf/`, and for a model with dropout."""

import random
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from fedrun.cli import CONF_DIR, compose_config
from fedrun.data.cohort import build_cohort
from fedrun.run import build

pytestmark = pytest.mark.slow


def options(group):
    return [f"{group}={path.stem}" for path in sorted(Path(CONF_DIR, group).glob("*.yaml"))]


def assert_identical(a, b):
    tf.nest.assert_same_structure(a, b)
    for x, y in zip(tf.nest.flatten(a), tf.nest.flatten(b)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def without_timings(metrics):
    """The metrics less wall-clock measurements (secure sum's `server_seconds`)."""
    if isinstance(metrics, Mapping):
        return {k: without_timings(v) for k, v in metrics.items() if not str(k).endswith("seconds")}
    return metrics


@pytest.mark.parametrize(
    "override", options("algorithm") + options("aggregator") + ["model=cnn_emnist"]
)
def test_round_depends_only_on_state_seed_and_round(mnist5k_file, override):
    built = build(
        compose_config(
            [
                override,
                f"dataset.path={mnist5k_file}",
                "dataset.num_clients=7",
                "dataset.central_test_size=50",
                "clients_per_round=7",  # the smallest cohort every shipped aggregator accepts (krum)
                "preprocess.epochs=1",
                "seed=7",
            ]
        )
    )
    config, process = built.config, built.process
    ids = built.sampler.sample(
        built.data.train.client_ids,
        config.clients_per_round,
        2,
        config.seed,
        built.data.train.num_examples,
    )
    cohort = build_cohort(built.data.train, ids, config.preprocess, config.seed, round_num=2)
    state = process.initialize()
    client_states = getattr(process, "client_states", None)
    saved = client_states.state_dict() if client_states is not None else None

    first = process.next(state, cohort)
    np.random.seed(123)  # disturb every global generator a component could (wrongly) draw from
    random.seed(123)
    tf.random.set_seed(123)
    tf.random.uniform([3])
    if client_states is not None:
        client_states.load_state_dict(saved)
    second = process.next(state, cohort)

    assert_identical(first.state, second.state)
    assert_identical(without_timings(first.metrics), without_timings(second.metrics))
