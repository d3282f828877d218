"""The aggregator tree from YAML: presets, user factories, and bad trees refused
with the path of the bad node."""

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import yaml

from fedrun.aggregators.build import AggregatorContext, build_aggregator, build_factory
from fedrun.aggregators.clipping import ClippingFactory
from fedrun.aggregators.factory import supports_unweighted, supports_weighted
from fedrun.aggregators.mean import MeanFactory
from fedrun.config.errors import ConfigError
from fedrun.core.placements import AtClients
from tests.aggregators.example_factory import ExampleTaskFactory
from tests.conftest import REPO_ROOT

PRESETS = sorted(p.stem for p in (REPO_ROOT / "conf" / "aggregator").glob("*.yaml"))
CONTEXT = AggregatorContext(clients_per_round=10, num_clients=40, rounds=3, seed=0)
EXAMPLE = "tests.aggregators.example_factory"
WEIGHTED_ONLY = {"_target_": f"{EXAMPLE}.ExampleWeightedMeanFactory"}


def secure_mean(**secure_sum):
    """mean -> clipping -> secure_sum, with the secure sum's parameters."""
    inner = {"type": "secure_sum", "upper_bound": 1.0, **secure_sum}
    return {"type": "mean", "value_sum": {"type": "clipping", "norm": 1.0, "inner": inner}}


def clipping(inner, **params):
    return {"type": "clipping", **params, "inner": inner}


MEAN = {"type": "mean"}


def preset(name):
    return yaml.safe_load(Path(REPO_ROOT / "conf" / "aggregator" / f"{name}.yaml").read_text())


def test_every_requested_preset_exists():
    assert set(PRESETS) >= {
        "mean",
        "clipped_mean",
        "robust",
        "secure",
        "dp_fixed",
        "dp_adaptive",
        "median",
        "trimmed_mean",
        "krum",
    }


@pytest.mark.parametrize("name", PRESETS, ids=PRESETS)
def test_preset_builds_weighted_and_unweighted(name):
    for weighted in (True, False):
        factory = build_aggregator(preset(name), "aggregator", weighted, (), CONTEXT)
        assert supports_weighted(factory) and supports_unweighted(factory)


@pytest.mark.parametrize("name", PRESETS, ids=PRESETS)
def test_preset_aggregates_a_cohort(name):
    factory = build_aggregator(preset(name), "aggregator", True, (), CONTEXT)
    spec = [tf.TensorSpec([4, 3], tf.float32), tf.TensorSpec([3], tf.float32)]
    process = factory.create(spec, tf.TensorSpec([], tf.float32))
    rng = np.random.default_rng(0)
    values = AtClients(
        [tf.constant(rng.normal(size=(10, *s.shape)) * 0.1, tf.float32) for s in spec], 10
    )
    weights = AtClients(tf.constant(rng.integers(1, 5, size=10), tf.float32), 10)
    output = process.next(process.initialize(), values, weights)
    assert [leaf.shape.as_list() for leaf in output.result.value] == [[4, 3], [3]]
    assert all(np.all(np.isfinite(leaf.numpy())) for leaf in output.result.value)


def test_user_factory_by_target_with_inner_from_yaml():
    node = {
        "type": "mean",
        "value_sum": {
            "_target_": f"{EXAMPLE}.ExampleTaskFactory",
            "inner_factory": {"type": "sum"},
        },
    }
    factory = build_factory(node, "aggregator", ["tests."], CONTEXT)
    assert isinstance(factory, MeanFactory) and isinstance(factory._value_sum, ExampleTaskFactory)
    process = factory.create(tf.TensorSpec([], tf.float32), tf.TensorSpec([], tf.float32))
    output = process.next(
        process.initialize(),
        AtClients.from_list([1.0, 2.0, 5.0]),
        AtClients.from_list([1.0, 1.0, 2.0]),
    )
    assert float(output.result.value) == pytest.approx(13.0 / 4)
    assert float(output.measurements["mean_value"]["scaled_value"]) == 13.0


def test_wrapper_weightedness_follows_inner():
    around_weighted = build_factory(
        clipping(WEIGHTED_ONLY, norm=1.0), "aggregator", ["tests."], CONTEXT
    )
    around_sum = build_factory(clipping({"type": "sum"}, norm=1.0), "aggregator", [], CONTEXT)
    assert isinstance(around_weighted, ClippingFactory) and isinstance(around_sum, ClippingFactory)
    assert (supports_weighted(around_weighted), supports_unweighted(around_weighted)) == (
        True,
        False,
    )
    assert (supports_weighted(around_sum), supports_unweighted(around_sum)) == (False, True)


def test_each_node_gets_its_own_seed():
    secure = {"type": "secure_sum", "upper_bound": 1.0}
    factory = build_factory(
        {"type": "mean", "value_sum": secure, "weight_sum": {**secure, "lower_bound": 0.0}},
        "aggregator",
        [],
        CONTEXT,
    )
    assert factory._value_sum.seed != factory._weight_sum.seed


BAD_TREES = [
    ({"type": "nope"}, "aggregator.type", "unknown aggregator"),
    (
        {"type": "mean", "value_sum": {"type": "nope"}},
        "aggregator.value_sum.type",
        "unknown aggregator",
    ),
    ({"type": "clipping", "norm": 1.0}, "aggregator.inner", "needs a child aggregator"),
    (
        {"type": "zeroing", "norm": 5.0, "inner": clipping(MEAN, norm=-1.0)},
        "aggregator.inner.norm",
        "out of range",
    ),
    (clipping(MEAN, norm=1.0, adaptive={}), "aggregator", "exactly one of"),
    (
        clipping(MEAN, adaptive={"target_quantile": 1.5}),
        "aggregator.adaptive.target_quantile",
        "out of range",
    ),
    (clipping(MEAN, nrom=1.0), "aggregator.nrom", "unknown key"),
    (secure_mean(bits=70), "aggregator.value_sum.inner.bits", "out of range"),
    (secure_mean(bits=3), "aggregator.value_sum.inner.bits", "overflows for a cohort of 10"),
    (
        secure_mean(upper_bound=-1.0, lower_bound=0.0),
        "aggregator.value_sum.inner",
        "lower_bound < upper_bound",
    ),
    (
        {"type": "mean", "value_sum": WEIGHTED_ONLY},
        "aggregator.value_sum",
        "needs an unweighted factory",
    ),
    (
        {"type": "mean", "value_sum": clipping(WEIGHTED_ONLY, norm=1.0)},
        "aggregator.value_sum",
        "needs an unweighted factory",
    ),
    (
        {"type": "mean", "value_sum": {"_target_": "os.system"}},
        "aggregator.value_sum._target_",
        "module not allowed",
    ),
    (
        {"type": "dp", "noise_multiplier": 2.0, "adaptive": {}},
        "aggregator.adaptive.clipped_count_stddev",
        "exceed noise_multiplier / 2",
    ),
    (
        {"type": "dp", "noise_multiplier": 0.0, "norm": 1.0},
        "aggregator.noise_multiplier",
        "out of range",
    ),
    ({"type": "dp", "norm": 1.0}, "aggregator.noise_multiplier", "missing required key"),
    ({"type": "krum", "byzantine": 4}, "aggregator.byzantine", "2 * byzantine + 3"),
    ({"type": "trimmed_mean", "trim_fraction": 0.5}, "aggregator.trim_fraction", "out of range"),
    ({"type": "quantize", "bits": 0, "inner": MEAN}, "aggregator.bits", "out of range"),
]
BAD_IDS = [
    "unknown-type",
    "unknown-nested-type",
    "missing-inner",
    "negative-norm",
    "norm-and-adaptive",
    "quantile-above-one",
    "misspelled-key",
    "bits-out-of-range",
    "bits-overflow-cohort",
    "empty-bounds",
    "weighted-user-factory-as-sum",
    "clipping-around-weighted-as-sum",
    "target-not-allowed",
    "dp-count-noise-too-small",
    "dp-zero-noise",
    "dp-missing-noise",
    "krum-too-many-byzantine",
    "trim-everything",
    "quantize-zero-bits",
]


@pytest.mark.parametrize("node, path, problem", BAD_TREES, ids=BAD_IDS)
def test_bad_tree_names_the_bad_node(node, path, problem):
    with pytest.raises(ConfigError) as caught:
        build_factory(node, "aggregator", ["tests."], CONTEXT)
    assert caught.value.path == path
    assert problem in str(caught.value)


@pytest.mark.parametrize(
    "node, weighted",
    [({"_target_": f"{EXAMPLE}.ExampleTaskFactory"}, True), (WEIGHTED_ONLY, False)],
    ids=["unweighted-root-weighted-algorithm", "weighted-root-unweighted-algorithm"],
)
def test_root_must_fit_the_algorithm(node, weighted):
    with pytest.raises(ConfigError) as caught:
        build_aggregator(node, "aggregator", weighted, ["tests."], CONTEXT)
    assert caught.value.path == "aggregator"
