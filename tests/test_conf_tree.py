"""Every option of every config group composes with `conf/config.yaml` and builds.

Each option is composed through Hydra exactly as `fedrun GROUP=OPTION` would, then
validated and built by `fedrun.run.build` (data read, model and processes
constructed, nothing trained); the slow suite also runs each for 2 rounds. Data sets whose files do not ship offline build on
tiny files in their real layouts.
"""

import importlib.util
import json
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from fedrun.cli import CONF_DIR
from fedrun.run import build
from tests.data.sources.test_cifar100 import write_cifar_hdf5
from tests.data.sources.test_emnist import write_emnist
from tests.data.sources.test_mnist import write_set
from tests.experiments.data_files import write_plays

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
    cifar100 = root / "cifar100"
    cifar100.mkdir()
    return {
        "emnist": emnist,
        "idx": idx,
        "plays": write_plays(root / "plays"),
        "hf": write_hf_sets(root / "hf"),
        "cifar100": write_cifar_hdf5(cifar100),
    }


def write_hf_sets(root):
    """Tiny local stand-ins, with the Hub sets' columns, for the huggingface presets."""
    if importlib.util.find_spec("datasets") is None:
        return None
    import datasets
    import numpy as np

    rng = np.random.default_rng(0)
    n = 60
    writers = [f"w{k % 6}" for k in range(n)]
    gray = [rng.integers(0, 256, (28, 28), dtype=np.uint8) for _ in range(n)]
    datasets.Dataset.from_dict(
        {"image": gray, "writer_id": writers, "character": [k % 10 for k in range(n)]},
        features=datasets.Features(
            {
                "image": datasets.Image(),
                "writer_id": datasets.Value("string"),
                "character": datasets.ClassLabel(num_classes=62),
            }
        ),
    ).save_to_disk(str(root / "femnist"))
    text = "To be, or not to be, that is the question: whether 'tis nobler in the mind to suffer the slings"
    datasets.Dataset.from_dict(
        {
            "character_id": writers,
            "x": [text[k % 10 : k % 10 + 80] for k in range(n)],
            "y": [text[k % 10 + 80] for k in range(n)],
        }
    ).save_to_disk(str(root / "shakespeare"))
    color = datasets.Features(
        {"img": datasets.Image(), "label": datasets.ClassLabel(num_classes=10)}
    )
    splits = {
        s: datasets.Dataset.from_dict(
            {
                "img": [rng.integers(0, 256, (32, 32, 3), dtype=np.uint8) for _ in range(m)],
                "label": [k % 10 for k in range(m)],
            },
            features=color,
        )
        for s, m in (("train", n * 4), ("test", 20))
    }
    datasets.DatasetDict(splits).save_to_disk(str(root / "cifar10"))
    return root


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
        elif option == "cifar100":
            extra += [f"dataset.path={files['cifar100']}", "clients_per_round=2", "eval_clients=2"]
        elif option == "huggingface" or option.startswith("hf_"):
            if files["hf"] is None:
                pytest.skip("the huggingface extra (datasets) is not installed")
            kind = {"huggingface": "femnist"}.get(option, option[3:])
            extra += ["dataset.name=null", f"dataset.path={files['hf'] / kind}"]
            extra += {
                "huggingface": ["dataset.label=character", "dataset.num_clients=6"],
                "hf_shakespeare": ["model=char_rnn"],
                "hf_cifar10": ["dataset.num_clients=6", "dataset.partition.min_size=5"],
            }.get(option, [])
    if group == "model" and option == "char_rnn":
        extra.append("dataset=shakespeare")
    if group == "algorithm" and option == "fedsgd":
        extra.append("preprocess.epochs=1")
    if group in ("aggregator",) and (
        option.startswith("dp") or option == "krum"
    ):  # krum: 2 * byzantine + 3 clients
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


# Bounds on a 2-round run's work: one local epoch, few evaluation clients, a small
# char RNN on short windows of a tiny play.
TWO_ROUNDS = ["preprocess.epochs=1", "eval_clients=2"]
SMALL_CHAR_RNN = ["model.lstm_units=[8]", "model.embedding_dim=4"]


def two_round_overrides(group, option, files):
    """`overrides_for`, bounded so that a whole run of 2 rounds stays small."""
    extra = overrides_for(group, option, files)
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", overrides=SMALL + extra)
    if cfg.dataset.type == "shakespeare":
        extra += [f"dataset.path={files['plays']}", "dataset.sequence_length=16"]
    if cfg.model.type == "char_rnn":
        extra += SMALL_CHAR_RNN
    return extra + TWO_ROUNDS


@pytest.mark.slow
@pytest.mark.parametrize("group, option", list(options()), ids=[f"{g}={o}" for g, o in options()])
def test_option_runs_two_rounds(group, option, data_files, tmp_path):
    from fedrun.run import run

    overrides = SMALL + two_round_overrides(group, option, data_files)
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", overrides=overrides)
    summary = run(OmegaConf.to_container(cfg, resolve=True), str(tmp_path))
    records = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["round"] for line in records] == [1, 2]
    assert summary["peak_rss_bytes"] > 0


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
