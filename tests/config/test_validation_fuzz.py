"""Random mutations of a valid config (wrong types, values out of range, unknown
names, missing and unknown keys): every failure is fedrun's own ConfigError with a
config path: from `validate`, the path of a mutated key; from `build` (which reads
the data and builds the model), the path of the setting that does not fit."""

import copy
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fedrun.config.errors import ConfigError
from fedrun.config.schema import validate
from fedrun.run import build
from fedrun.cli import compose_config

# Kept valid: a file path that is not a config mistake, and a path only `run` reads.
FIXED = {("dataset", "path"), ("resume",)}


def leaves(node, prefix=()):
    if isinstance(node, dict):
        if prefix:
            yield prefix, node
        for key, value in node.items():
            yield from leaves(value, prefix + (key,))
    else:
        yield prefix, node


@pytest.fixture(scope="module")
def base(mnist5k_file):
    return compose_config(
        [
            f"dataset.path={mnist5k_file}",
            "dataset.num_clients=10",
            "dataset.central_test_size=50",
            "clients_per_round=5",
        ]
    )


def wrong_values(huge):
    return st.one_of(
        st.text(max_size=8),
        st.integers(min_value=-huge, max_value=huge),
        st.floats(allow_nan=True, allow_infinity=True),
        st.booleans(),
        st.none(),
        st.lists(st.integers(0, 3), max_size=2),
        st.dictionaries(st.sampled_from(["type", "x"]), st.text(max_size=4), max_size=2),
        st.sampled_from([-1, 0, 1, 0.5, -0.5, huge, "mean", "sgd", "logreg", "iid"]),
    )


@st.composite
def mutations(draw, config, huge):
    """A mutated copy of `config` and the paths it changed."""
    config = copy.deepcopy(config)
    changed = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["replace", "rename", "delete", "add"]))
        paths = [p for p, _ in leaves(config) if p and p not in FIXED]
        names = [p for p in paths if p[-1] == "type"]
        path = draw(st.sampled_from(names if kind == "rename" and names else paths))
        *parents, key = path
        node = config
        for parent in parents:
            node = node[parent]
        if kind == "replace":
            node[key] = draw(wrong_values(huge))
        elif kind == "rename":
            node[key] = draw(st.one_of(st.text(min_size=1, max_size=10), wrong_values(huge)))
        elif kind == "delete":
            del node[key]
        else:
            target = node[key] if isinstance(node[key], dict) else node
            extra = draw(st.text(min_size=1, max_size=6))
            target[extra] = draw(wrong_values(huge))
            path = (path if target is not node else tuple(parents)) + (extra,)
        changed.append(".".join(map(str, path)))
    return config, changed


def components(path):
    return path.replace("[", ".[").split(".") if path else []


def related(error_path, changed):
    """Whether the error names a mutated key, something inside it, or a node holding it."""
    error = components(error_path)
    for path in changed:
        mutated = components(path)
        shorter = min(len(error), len(mutated))
        if error[:shorter] == mutated[:shorter]:
            return True
        if {error[0], mutated[0]} <= {
            "clients_per_round",
            "min_clients",
        }:  # their cross-field check
            return True
    return False


def check(call, config, changed, strict=True):
    """`call(config)` succeeds or raises a ConfigError whose path names a mutated key
    (`strict`), or at least a top-level key of the config (checks against the data,
    such as a partition that no longer fits the client count, name the setting
    that fails, which may be a sibling of the one mutated)."""
    try:
        call(config)
    except ConfigError as err:
        assert err.path and err.path != "<root>", err
        if strict:
            assert related(err.path, changed), f"{err} does not name any of {changed}"
        else:
            assert components(err.path)[0] in set(config) | {components(c)[0] for c in changed}, err
        assert isinstance(err.problem, str) and err.problem
    except Exception as err:  # noqa: BLE001  (the property under test)
        pytest.fail(f"{changed} raised {type(err).__name__} instead of ConfigError: {err}")


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_validate_fails_only_with_config_errors_naming_a_mutated_path(base, data):
    config, changed = data.draw(mutations(base, huge=10**12))
    check(validate, config, changed)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_build_fails_only_with_config_errors_naming_a_mutated_path(base, data):
    # Bounded sizes: a valid but huge batch or client count is not a mistake to test here.
    config, changed = data.draw(mutations(base, huge=10**4))
    check(build, config, changed, strict=False)


def test_nan_learning_rate_is_refused_with_its_path(base):
    config = copy.deepcopy(base)
    config["client_optimizer"]["learning_rate"] = math.nan
    with pytest.raises(ConfigError, match="out of range") as caught:
        validate(config)
    assert caught.value.path == "client_optimizer.learning_rate"
