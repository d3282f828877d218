"""Unknown keys name the closest valid key and every valid one, also for keys in YAML files."""

import pytest
from omegaconf import OmegaConf

from fedrun.app.schema import validate
from fedrun.cli import compose_config
from fedrun.config.errors import ConfigError, unknown_key_error


@pytest.mark.parametrize(
    "path, key, valid, noun, message",
    [
        (
            "aggregator.value_sum",
            "nrom",
            ["norm", "adaptive", "inner"],
            "parameter",
            "aggregator.value_sum.nrom: unknown parameter; did you mean 'norm'? valid: norm, adaptive, inner",
        ),
        ("", "colour", ["rounds", "seed"], "key", "colour: unknown key; valid: rounds, seed"),
        ("model", "depth", [], "parameter", "model.depth: unknown parameter; valid: none"),
    ],
    ids=["close-match", "no-match", "no-valid-keys"],
)
def test_unknown_key_error_names_match_and_valid_keys(path, key, valid, noun, message):
    err = unknown_key_error(path, key, valid, noun)
    assert isinstance(err, ConfigError)
    assert str(err) == message and err.path == message.split(":")[0]


def test_mistyped_key_in_a_users_yaml_file_names_its_path_and_closest_key(tmp_path):
    (tmp_path / "aggregator.yaml").write_text(
        "type: mean\nvalue_sum:\n  type: clipping\n  nrom: 1.0\n  inner: {type: sum}\n"
    )
    plain = compose_config()
    plain["aggregator"] = OmegaConf.to_container(OmegaConf.load(tmp_path / "aggregator.yaml"))
    with pytest.raises(ConfigError) as caught:
        validate(plain)
    assert (
        str(caught.value)
        == "aggregator.value_sum.nrom: unknown parameter; did you mean 'norm'? valid: norm, adaptive, inner"
    )


def test_mistyped_key_of_a_plain_block_is_an_unknown_key():
    plain = compose_config()
    plain["preprocess"]["batchsize"] = 10
    with pytest.raises(
        ConfigError,
        match=r"preprocess.batchsize: unknown key; did you mean 'batch_size'\? valid: epochs, batch_size",
    ):
        validate(plain)
