"""ConfigStore schemas generated from fedrun's dataclasses: they follow the
dataclasses, every shipped option YAML fits its schema, and Hydra types the top
level while composing."""

import dataclasses
from pathlib import Path
from typing import Any, Dict, List, Literal, Optional, Union

import pytest
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from fedrun.cli import CONF_DIR
from fedrun.config.schema import RunConfig
from fedrun.config.store import omegaconf_type, option_schemas, schema_dataclass
from fedrun.cli import compose_config


@pytest.mark.parametrize(
    "annotation, expected",
    [
        (int, int),
        (Optional[int], Optional[int]),
        (Optional[list[int]], Any),
        (Literal["a", "b"], str),
        (Union[int, str], Any),
        (tuple[int, ...], List[int]),
        (list[str], List[str]),
        (dict[str, Any], Dict[str, Any]),
    ],
    ids=["int", "optional", "optional-list", "literal", "union", "tuple", "list", "dict"],
)
def test_annotations_map_to_what_omegaconf_supports(annotation, expected):
    assert omegaconf_type(annotation) == expected


@dataclasses.dataclass(frozen=True)
class Block:
    fraction: float = 0.0


@dataclasses.dataclass(frozen=True)
class WithOptionalBlock:
    block: Optional[Block] = None


def test_override_merges_into_a_null_optional_block():
    config = OmegaConf.structured(schema_dataclass(WithOptionalBlock))
    OmegaConf.update(
        config, "block", {"fraction": 0.5}, merge=True
    )  # what Hydra does for `block={fraction: 0.5}`
    assert OmegaConf.to_container(config) == {"block": {"fraction": 0.5}}


def test_root_schema_has_every_run_config_field_and_default():
    schema = OmegaConf.to_container(
        OmegaConf.structured(schema_dataclass(RunConfig, "FedrunConfigSchema"))
    )
    assert list(schema) == [f.name for f in dataclasses.fields(RunConfig)]
    assert schema["checkpoint"] == {"enabled": True, "every": 10, "keep": 3}
    assert schema["preprocess"]["batch_size"] == 20 and schema["model"] is None


def test_option_schemas_fix_the_type_and_carry_defaults():
    schemas = option_schemas()
    mlp = OmegaConf.to_container(OmegaConf.structured(schemas["model"]["mlp_2nn"]))
    assert mlp == {"type": "mlp_2nn", "hidden_units": [200, 200]}
    assert "value_sum" in OmegaConf.structured(schemas["aggregator"]["mean"])


def shipped_options():
    """Option files of the typed groups (not global presets such as `hparams_search`)."""
    typed_groups = set(option_schemas())
    files = sorted(Path(CONF_DIR).glob("*/*.yaml"))
    return [
        pytest.param(p, id=f"{p.parent.name}/{p.stem}")
        for p in files
        if p.parent.name in typed_groups
    ]


@pytest.mark.parametrize("option", shipped_options())
def test_shipped_option_files_fit_their_schema(option):
    node = OmegaConf.load(option)
    schema = option_schemas()[option.parent.name][node["type"]]
    OmegaConf.merge(OmegaConf.structured(schema), node)  # raises on an unknown key or a wrong type


@pytest.mark.parametrize(
    "override, message",
    [("rounds=ten", "full_key: rounds"), ("checkpoint.every=1.5", "full_key: checkpoint.every")],
    ids=["string-for-int", "float-for-int"],
)
def test_hydra_types_top_level_keys_while_composing(override, message):
    with pytest.raises(ConfigCompositionException) as caught:
        compose_config([override])
    assert message in str(caught.value.__cause__)


def test_option_file_may_extend_its_schema(tmp_path, monkeypatch):
    (tmp_path / "model").mkdir()
    (tmp_path / "config.yaml").write_text(
        "defaults:\n  - schema@_here_: run\n  - model: narrow\n  - _self_\n"
    )
    (tmp_path / "model" / "narrow.yaml").write_text(
        "defaults:\n  - /schema/model/mlp_2nn@_here_\n  - _self_\nhidden_units: [5]\n"
    )
    monkeypatch.setattr("fedrun.cli.CONF_DIR", tmp_path)
    assert compose_config()["model"] == {"type": "mlp_2nn", "hidden_units": [5]}
    with pytest.raises(ConfigCompositionException):
        compose_config(["model.hidden_units=[wide]"])


def test_composing_without_the_schemas_still_works(monkeypatch):
    from hydra import compose, initialize_config_dir
    from hydra.core.config_store import ConfigStore

    monkeypatch.delitem(
        ConfigStore.instance().repo, "schema", raising=False
    )  # as if never registered
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        assert (
            OmegaConf.to_container(compose("config", overrides=["rounds=ten"]))["rounds"] == "ten"
        )
