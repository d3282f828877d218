"""Experiments become Hydra options: `experiments/NAME/config.yaml` is `NAME`, other
files are variants `NAME_VARIANT`, subfolders are preset groups `NAME/GROUP`."""

from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf

from fedrun.cli import CONF_DIR, experiment_option, register_experiments


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_files_name_options_variants_and_presets(tmp_path):
    root = tmp_path / "experiments"
    write(
        root / "paper_x" / "config.yaml",
        "# @package _global_\ndefaults:\n  - _self_\n  - /paper_x/method: slow\nrounds: 7\n",
    )
    write(
        root / "paper_x" / "reduced.yaml",
        "# @package _global_\ndefaults:\n  - paper_x\n  - _self_\nrounds: 2\n",
    )
    write(root / "paper_x" / "method" / "slow.yaml", "# @package _global_\nclients_per_round: 3\n")
    write(root / "paper_x" / "method" / "fast.yaml", "# @package _global_\nclients_per_round: 5\n")
    write(root / "paper_x" / "results" / "runs.csv", "not a config\n")

    assert register_experiments(root) == ["paper_x", "paper_x_reduced"]
    assert {"fast.yaml", "slow.yaml"} <= set(ConfigStore.instance().list("paper_x/method"))
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        full = compose("config", overrides=["experiment=paper_x"])
        reduced = compose("config", overrides=["experiment=paper_x_reduced", "paper_x/method=fast"])
    assert (full.rounds, full.clients_per_round) == (7, 3)
    assert (reduced.rounds, reduced.clients_per_round) == (2, 5)
    assert OmegaConf.select(reduced, "paper_x") is None  # presets are global diffs, not a node


def test_option_names(tmp_path):
    assert experiment_option(tmp_path / "paper_x" / "config.yaml") == "paper_x"
    assert experiment_option(tmp_path / "paper_x" / "reduced_cnn.yaml") == "paper_x_reduced_cnn"
