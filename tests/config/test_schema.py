"""Whole-config validation: every mistake is a ConfigError naming its path, the
bad value and what is allowed, before anything is built."""

import copy

import pytest

from fedrun.config.errors import ConfigError
from fedrun.config.schema import GROUPS, RunConfig, group_registries, validate
from fedrun.cli import compose_config


@pytest.fixture(scope="module")
def default():
    return compose_config()


def with_change(config, path, value):
    changed = copy.deepcopy(config)
    *parents, key = path.split(".")
    node = changed
    for parent in parents:
        node = node[parent]
    if value is DELETE:
        del node[key]
    else:
        node[key] = value
    return changed


DELETE = object()


def test_default_config_is_valid(default):
    config = validate(default)
    assert isinstance(config, RunConfig)
    assert config.checkpoint.every == 10 and config.resume is None and config.min_clients == 1


def test_every_group_has_a_registry():
    assert tuple(group_registries()) == GROUPS


@pytest.mark.parametrize(
    "path, value, error_path, allowed",
    [
        ("rounds", "ten", "rounds", None),
        ("rounds", 0, "rounds", ">= 1"),
        ("preprocess.batch_size", 2.5, "preprocess.batch_size", None),
        ("checkpoint.keep", 0, "checkpoint.keep", ">= 1"),
        ("checkpoint.every", -1, "checkpoint.every", ">= 0"),
        ("checkpoint.enabled", "yes", "checkpoint.enabled", None),
        ("resume", 3, "resume", None),
        ("min_clients", 11, "min_clients", "1..10"),
        ("model.type", "resnet9000", "model.type", "cnn_emnist, cnn_mcmahan, logreg, mlp_2nn"),
        ("server_optimizer.learning_rate", "fast", "server_optimizer.learning_rate", None),
        ("aggregator.type", "avg", "aggregator.type", "mean"),
        ("runtime.chunk_size", 0, "runtime.chunk_size", ">= 1"),
        ("sampling.type", None, "sampling.type", "fixed, uniform"),
    ],
    ids=[
        "wrong-type",
        "out-of-range",
        "float-for-int",
        "keep-zero",
        "every-negative",
        "string-for-bool",
        "int-for-path",
        "min-clients-above-cohort",
        "unknown-model",
        "string-for-float",
        "unknown-aggregator",
        "chunk-zero",
        "null-name",
    ],
)
def test_bad_value_names_path_value_and_allowed(default, path, value, error_path, allowed):
    with pytest.raises(ConfigError) as caught:
        validate(with_change(default, path, value))
    assert caught.value.path == error_path
    assert caught.value.value == value
    if allowed:
        assert allowed in caught.value.allowed
    assert error_path in str(caught.value) and repr(value) in str(caught.value)


@pytest.mark.parametrize(
    "path, value, error_path, problem",
    [
        ("checkpoint.keep_last", 3, "checkpoint.keep_last", "unknown key"),
        ("colour", "blue", "colour", "unknown key"),
        ("model.depth", 3, "model.depth", "unknown key"),
        ("model.type", DELETE, "model.type", "missing 'type'"),
        ("sampling", DELETE, "sampling", "missing config group"),
    ],
    ids=[
        "unknown-nested-key",
        "unknown-top-level-key",
        "unknown-model-parameter",
        "missing-type",
        "missing-group",
    ],
)
def test_unknown_and_missing_keys_name_their_path(default, path, value, error_path, problem):
    with pytest.raises(ConfigError, match=problem) as caught:
        validate(with_change(default, path, value))
    assert caught.value.path == error_path
