"""Command-line overrides of keys no schema declares fail before Hydra composes."""

import pytest

from fedrun.app.override_keys import check_override_keys, schema_keys
from fedrun.app.store import register_schemas
from fedrun.cli import CONF_DIR, register_experiments
from fedrun.config.errors import ConfigError


@pytest.fixture(scope="module", autouse=True)
def registered():
    register_schemas()
    register_experiments()


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["aggregator=secure", "aggregator.value_sum.nrom=1"],
            "aggregator.value_sum.nrom: unknown parameter; did you mean 'norm'? valid: norm, adaptive, inner",
        ),
        (
            ["roundz=3"],
            "roundz: unknown key; did you mean 'rounds'? valid: rounds, clients_per_round",
        ),
        (["preprocess.epoch=3"], "preprocess.epoch: unknown key; did you mean 'epochs'?"),
        (
            ["aggregator=clipped_mean", "aggregator.inner.no_nan_divison=true"],
            "aggregator.inner.no_nan_divison: unknown parameter; did you mean 'no_nan_division'? valid: no_nan_division, value_sum, weight_sum",
        ),
        (
            ["-m", "aggregator=mean,secure", "aggregator.value_sum.inner.bitz=8,16"],
            "aggregator.value_sum.inner.bitz: unknown parameter",
        ),
        (
            ["algorithm=fedprox", "algorithm.muu=0.1"],
            "algorithm.muu: unknown parameter; did you mean 'mu'?",
        ),
        (
            ["algorithm=fedadam", "algorithm.server_optimizer.learning_rate=0.1"],
            "algorithm.server_optimizer.learning_rate: moved: write server_optimizer.learning_rate",
        ),
    ],
    ids=[
        "typo-in-a-nested-parameter",
        "top-level",
        "plain-block",
        "nested-child",
        "group-sweep",
        "algorithm",
        "moved-fedopt-server-optimizer",
    ],
)
def test_mistyped_key_names_path_closest_match_and_valid_keys(args, message):
    with pytest.raises(ConfigError) as caught:
        check_override_keys(args, CONF_DIR)
    assert str(caught.value).startswith(message)


@pytest.mark.parametrize(
    "args",
    [
        ["aggregator=secure", "aggregator.value_sum.norm=1"],  # present in the YAML
        [
            "aggregator=clipped_mean",
            "aggregator.norm=1",
        ],  # declared, absent from the YAML: Hydra asks for `+`
        ["stragglers.fraction=0.5"],  # under a null block
        ["+colour=blue"],  # an addition: validation refuses it
        ["--cfg", "job", "roundz=3"],  # a flag that is not fedrun's to interpret
        ["aggregator=nope", "aggregator.x=1"],  # a bad group choice: Hydra lists the options
        ["-m", "rounds=1,2", "hydra/launcher=joblib"],
    ],
    ids=[
        "existing-key",
        "declared-not-set",
        "null-block",
        "addition",
        "other-flag",
        "bad-group",
        "sweep",
    ],
)
def test_keys_fedrun_cannot_judge_are_left_to_hydra(args):
    check_override_keys(args, CONF_DIR)


def test_schema_keys_of_an_aggregator_node_list_parameters_then_children():
    base = {
        "aggregator": {
            "type": "mean",
            "value_sum": {"type": "clipping", "norm": 1.0, "inner": {"type": "sum"}},
        }
    }
    assert schema_keys(["aggregator", "value_sum"], base) == (
        ["norm", "adaptive", "inner"],
        "parameter",
    )
    assert schema_keys(["aggregator"], base) == (
        ["no_nan_division", "value_sum", "weight_sum"],
        "parameter",
    )
    assert schema_keys(["aggregator", "value_sum", "inner"], base) == ([], "parameter")
    assert schema_keys(["aggregator", "nope"], {"aggregator": {"type": "mean", "nope": {}}}) == (
        None,
        "key",
    )
