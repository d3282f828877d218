"""Every option of every config group composes with `conf/config.yaml` and builds.

Each option is composed through Hydra exactly as `fedrun GROUP=OPTION` would, then
validated and built by `fedrun.run.build` (data read, model and processes
constructed, nothing trained). Data sets whose files do not ship offline build on
tiny files in their real layouts.
"""

import importlib.util
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from fedrun.cli import CONF_DIR
from fedrun.run import build
from tests.data.sources.test_emnist import write_emnist
from tests.data.sources.test_mnist import write_set

SMALL = ["rounds=2", "clients_per_round=5", "progress=false", "eval_clients=4"]
SKIP_GROUPS = {"hydra", "hparams_search"}


def options():
    for group_dir in sorted(Path(CONF_DIR).iterdir()):
        if group_dir.is_dir() and group_dir.name not in SKIP_GROUPS:
            for option in sorted(group_dir.glob("*.yaml")):
                yield group_dir.name, option.stem


@pytest.fixture(scope="module")
def data_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    emnist = root / "emnist"
    emnist.mkdir()
    writers = {f"f{k:04d}_00": 6 for k in range(6)}
    for prefix in ("fed_emnist", "fed_emnist_digitsonly"):
        write_emnist(emnist / f"{prefix}_train.h5", writers, num_classes=10)
        write_emnist(emnist / f"{prefix}_test.h5", {w: 2 for w in writers}, num_classes=10)
    idx = write_set(root / "idx", train=120, test=40)
    return {"emnist": emnist, "idx": idx}


def overrides_for(group, option, files):
    """What makes an option buildable here: its data, and settings it requires."""
    extra = [f"{group}={option}"]
    if group == "dataset":
        if option.startswith("emnist"):
            extra.append(f"dataset.path={files['emnist']}")
        elif option in ("mnist", "fashion_mnist"):
            extra += [
                f"dataset.path={files['idx']}",
                "dataset.num_clients=6",
                "dataset.central_test_size=20",
                "dataset.partition.min_size=5",
            ]
        elif option.startswith("synthetic"):
            extra.append("model=logreg_synthetic")
        elif option == "shakespeare":
            extra.append("model=char_rnn")
    if group == "model" and option == "char_rnn":
        extra.append("dataset=shakespeare")
    if group == "algorithm" and option == "fedsgd":
        extra.append("preprocess.epochs=1")
    if group in ("aggregator",) and option.startswith("dp"):
        extra.append("clients_per_round=10")
    return extra


@pytest.mark.parametrize("group, option", list(options()), ids=[f"{g}={o}" for g, o in options()])
def test_option_composes_and_builds(group, option, data_files):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", overrides=SMALL + overrides_for(group, option, data_files))
    plain = OmegaConf.to_container(cfg, resolve=True)
    built = build(plain)
    try:
        assert built.process.initialize() is not None
        assert built.config.rounds == 2
    finally:
        built.runtime.close()


@pytest.mark.parametrize(
    "launcher", ["joblib", "ray", "submitit_slurm"], ids=["joblib", "ray", "submitit_slurm"]
)
def test_launcher_presets_compose(launcher):
    plugin = {
        "joblib": "hydra_plugins.hydra_joblib_launcher",
        "ray": "hydra_plugins.hydra_ray_launcher",
        "submitit_slurm": "hydra_plugins.hydra_submitit_launcher",
    }[launcher]
    if importlib.util.find_spec(plugin) is None:
        pytest.skip(f"{plugin} is not installed (an optional extra)")
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", overrides=[f"hydra/launcher={launcher}"], return_hydra_config=True)
    assert cfg.hydra.launcher._target_.startswith("hydra_plugins.")
