"""Every experiment (each variant and each preset it sweeps) composes, validates and
builds (`fedrun.run.build`: data, model, process; no training), and runs 2 small
rounds (slow suite). Every value of every
swept key composes and validates. Data sets whose files are not on this machine
(MNIST, Fashion-MNIST's IDX layout, EMNIST, the plays) are read from tiny files in
their real layouts (`dataset.path`)."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from fedrun.app.schema import validate
from fedrun.cli import EXPERIMENTS_DIR, register_experiments
from tests.experiments.data_files import write_emnist_files, write_idx_images, write_plays

OPTIONS = register_experiments()
PRESETS = sorted(
    (f"{p.parent.parent.name}/{p.parent.name}", p.stem) for p in EXPERIMENTS_DIR.glob("*/*/*.yaml")
)
EXPECTED = {
    "tff_image_classification",
    "mcmahan17_mnist",
    "fedprox_synthetic",
    "reddi21_adaptive",
    "andrew21_adaptive_clipping",
    "secure_aggregation",
    "byzantine_robustness",
}


@pytest.fixture(scope="module")
def data_dirs(tmp_path_factory) -> dict[str, str]:
    """`dataset.type` -> a directory of tiny files for the types with no data here."""
    root = tmp_path_factory.mktemp("experiment_data")
    images = str(write_idx_images(root / "idx"))
    emnist = str(write_emnist_files(root / "emnist"))
    return {
        "mnist": images,
        "fashion_mnist": images,
        "emnist": emnist,
        "emnist_digits": emnist,
        "shakespeare": str(write_plays(root / "plays")),
    }


def compose(overrides: list[str], hydra: bool = False) -> Any:
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from fedrun.cli import CONF_DIR

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return hydra_compose("config", overrides=overrides, return_hydra_config=hydra)


def plain_config(overrides: list[str], data_dirs: dict[str, str]) -> dict[str, Any]:
    """The composed config as plain Python, pointed at the tiny files when its data set has none here."""
    from omegaconf import OmegaConf

    dataset_type = compose(overrides).dataset.type
    extra = [f"dataset.path={data_dirs[dataset_type]}"] if dataset_type in data_dirs else []
    return OmegaConf.to_container(compose(overrides + extra), resolve=True)


def sweep_params(option: str) -> dict[str, str]:
    return dict(compose([f"experiment={option}"], hydra=True).hydra.sweeper.params or {})


def build_and_check(plain: dict[str, Any]) -> None:
    from fedrun.run import build

    built = build(plain)
    try:
        assert built.config.clients_per_round <= len(built.data.train.client_ids)
        state = built.process.initialize()
        assert built.process.get_model_weights(state) is not None
    finally:
        built.runtime.close()


def test_every_experiment_has_a_full_and_a_reduced_variant():
    names = {p.name for p in EXPERIMENTS_DIR.iterdir() if p.is_dir()}
    assert names == EXPECTED
    for name in names:
        assert name in OPTIONS and f"{name}_reduced" in OPTIONS
        assert (EXPERIMENTS_DIR / name / "README.md").is_file()


@pytest.mark.parametrize("option", OPTIONS, ids=OPTIONS)
def test_experiment_is_a_global_diff(option):
    name = next(n for n in sorted(EXPECTED, key=len, reverse=True) if option.startswith(n))
    stem = "config" if option == name else option[len(name) + 1 :]
    text = (EXPERIMENTS_DIR / name / f"{stem}.yaml").read_text()
    assert text.startswith("# @package _global_\n")
    assert "defaults:" in text


@pytest.mark.parametrize("option", OPTIONS, ids=OPTIONS)
def test_every_swept_value_composes_and_validates(option):
    from omegaconf import OmegaConf

    for key, values in sweep_params(option).items():
        for value in str(values).split(","):
            validate(
                OmegaConf.to_container(
                    compose([f"experiment={option}", f"{key}={value}"]), resolve=True
                )
            )


@pytest.mark.slow
@pytest.mark.parametrize("option", OPTIONS, ids=OPTIONS)
def test_experiment_builds(option, data_dirs):
    build_and_check(plain_config([f"experiment={option}"], data_dirs))


def two_rounds(overrides: list[str]) -> list[str]:
    """`overrides` bounded to 2 small rounds (one local epoch, 2 evaluation clients, a
    small char RNN on short windows)."""
    cfg = compose(overrides)
    extra = ["rounds=2", "preprocess.epochs=1", "eval_clients=2", "progress=false"]
    if cfg.dataset.type == "shakespeare":
        extra.append("dataset.sequence_length=16")
    if cfg.model.type == "char_rnn":
        extra += ["model.lstm_units=[8]", "model.embedding_dim=4"]
    return overrides + extra


@pytest.mark.slow
@pytest.mark.parametrize("option", OPTIONS, ids=OPTIONS)
def test_experiment_runs_two_rounds(option, data_dirs, tmp_path):
    from fedrun.run import run

    summary = run(plain_config(two_rounds([f"experiment={option}"]), data_dirs), str(tmp_path))
    records = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["round"] for line in records] == [1, 2]
    assert summary["peak_rss_bytes"] > 0


def _option_using(group: str) -> str:
    """An experiment option whose defaults select a preset of `group`."""
    name = group.split("/")[0]
    candidates = [o for o in OPTIONS if o == name or o.startswith(f"{name}_")]
    for option in candidates:
        if group in compose([f"experiment={option}"], hydra=True).hydra.runtime.choices:
            return option
    raise AssertionError(f"no variant of {name} selects a {group} preset")


@pytest.mark.slow
@pytest.mark.parametrize("group, preset", PRESETS, ids=[f"{g}={p}" for g, p in PRESETS])
def test_preset_builds(group, preset, data_dirs):
    build_and_check(
        plain_config([f"experiment={_option_using(group)}", f"{group}={preset}"], data_dirs)
    )


@pytest.mark.parametrize("group, preset", PRESETS, ids=[f"{g}={p}" for g, p in PRESETS])
def test_every_preset_is_swept(group, preset):
    """A preset no sweep reaches would be dead configuration."""
    name = group.split("/")[0]
    swept = itertools.chain.from_iterable(
        str(sweep_params(o).get(group, "")).split(",")
        for o in OPTIONS
        if o == name or o.startswith(f"{name}_")
    )
    assert preset in set(swept)
