"""Sweeps end to end: a 2-job multirun with the joblib launcher writes TensorBoard
hparams per job and `fedrun-report` turns it into tables and a plot; the Optuna
preset returns each run's objective to the sweeper."""

import csv
import glob
import json
import subprocess
import sys

import pytest
import yaml
from tensorboard.plugins.hparams import metadata as hparams_metadata

from tests.conftest import REPO_ROOT, run_fedrun

SMALL = [
    "rounds=2",
    "dataset.num_clients=8",
    "clients_per_round=4",
    "preprocess.epochs=1",
    "progress=false",
]


def hparams_events(tb_dir):
    """(session start info, experiment) protos written into a run's `tb/`."""
    import tensorflow as tf

    start, experiment = None, None
    for path in glob.glob(str(tb_dir / "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                content = value.metadata.plugin_data.content
                if value.tag == hparams_metadata.SESSION_START_INFO_TAG:
                    start = hparams_metadata.parse_session_start_info_plugin_data(content)
                elif value.tag == hparams_metadata.EXPERIMENT_TAG:
                    experiment = hparams_metadata.parse_experiment_plugin_data(content)
    return start, experiment


@pytest.fixture(scope="module")
def joblib_sweep(tmp_path_factory):
    sweep = tmp_path_factory.mktemp("sweep")
    result = run_fedrun(
        ["-m", "hydra/launcher=joblib", "seed=0,1", *SMALL, f"hydra.sweep.dir={sweep}"]
    )
    assert result.returncode == 0, result.stderr
    return sweep


@pytest.mark.slow
def test_each_job_writes_its_run_and_hparams(joblib_sweep):
    for job, seed in ((0, 0), (1, 1)):
        job_dir = joblib_sweep / str(job)
        assert len((job_dir / "metrics.jsonl").read_text().splitlines()) == 2
        start, experiment = hparams_events(job_dir / "tb")
        hparams = {
            name: value.number_value
            for name, value in start.hparams.items()
            if value.HasField("number_value")
        }
        assert hparams["seed"] == seed and hparams["rounds"] == 2
        assert {h.name for h in experiment.hparam_infos} == {
            "seed",
            *(o.split("=")[0] for o in SMALL),
        }
        metrics = {(m.name.group, m.name.tag) for m in experiment.metric_infos}
        assert {
            ("train", "loss"),
            ("train", "accuracy"),
            ("eval", "accuracy"),
            ("eval_centralized", "accuracy"),
        } <= metrics


@pytest.mark.slow
def test_report_on_the_sweep(joblib_sweep):
    out = joblib_sweep / "out"
    result = subprocess.run(
        [sys.executable, "-m", "fedrun.report.cli", str(joblib_sweep), "--out", str(out)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    runs = list(csv.DictReader((out / "runs.csv").open()))
    assert sorted(r["seed"] for r in runs) == ["0", "1"]
    accuracies = [float(r["eval.federated.accuracy"]) for r in runs]
    assert accuracies == sorted(accuracies, reverse=True)
    for row in runs:
        summary = json.loads((joblib_sweep / row["run"] / "summary.json").read_text())
        assert float(row["eval.federated.accuracy"]) == pytest.approx(
            summary["final_eval"]["federated"]["accuracy"]
        )
    markdown = (out / "report.md").read_text()
    assert "## Mean ± std over seed" in markdown and "| 2 |" in markdown
    assert (out / "curves.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_optuna_search_optimizes_the_returned_objective(tmp_path):
    result = run_fedrun(
        [
            "hparams_search=fedavg_learning_rates",
            "hydra.sweeper.n_trials=2",
            *SMALL,
            f"hydra.sweep.dir={tmp_path}",
        ]
    )
    assert result.returncode == 0, result.stderr
    best = yaml.safe_load((tmp_path / "optimization_results.yaml").read_text())
    finals = [
        json.loads((tmp_path / str(job) / "summary.json").read_text())["final_eval"]["federated"][
            "accuracy"
        ]
        for job in (0, 1)
    ]
    assert best["best_value"] == pytest.approx(max(finals))
    assert set(best["best_params"]) == {
        "client_optimizer.learning_rate",
        "server_optimizer.learning_rate",
    }


@pytest.mark.slow
def test_a_wrong_objective_path_lists_the_summary_paths(tmp_path):
    result = run_fedrun(
        [f"hydra.run.dir={tmp_path}", "objective=final_eval.nope", *SMALL[1:], "rounds=1"]
    )
    assert result.returncode == 2
    assert (
        "objective: no number at this path" in result.stderr
        and "final_eval.federated.accuracy" in result.stderr
    )


def compose_with_hydra(overrides):
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(str(REPO_ROOT / "conf"), version_base="1.3"):
        return compose("config", overrides=overrides, return_hydra_config=True)


@pytest.mark.parametrize(
    "launcher, target",
    [
        ("joblib", "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher"),
        ("ray", "hydra_plugins.hydra_ray_launcher.ray_launcher.RayLauncher"),
        ("submitit_slurm", "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"),
    ],
    ids=["joblib", "ray", "slurm"],
)
@pytest.mark.filterwarnings(
    "ignore:(?s).*is validated against ConfigStore schema"
)  # as fedrun.cli does
def test_launcher_presets_compose(launcher, target):
    cfg = compose_with_hydra([f"hydra/launcher={launcher}"])
    assert cfg.hydra.launcher._target_ == target


def test_optuna_preset_tunes_both_learning_rates_and_validates():
    from omegaconf import OmegaConf

    from fedrun.config.schema import validate

    cfg = compose_with_hydra(["hparams_search=fedavg_learning_rates"])
    sweeper = cfg.hydra.sweeper
    assert sweeper._target_.endswith("OptunaSweeper") and sweeper.direction == "maximize"
    assert set(sweeper.params) == {
        "client_optimizer.learning_rate",
        "server_optimizer.learning_rate",
    }
    plain = OmegaConf.to_container(cfg, resolve=False)
    plain.pop("hydra")
    assert validate(plain).objective == "final_eval.federated.accuracy"
