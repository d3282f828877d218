"""`fedrun -m experiment=NAME_VARIANT` runs the grid stored in the experiment's
`hydra.sweeper.params` (presets and seeds) into one sweep directory."""

import itertools
import json

import pytest
import yaml

from tests.conftest import run_fedrun


@pytest.mark.slow
def test_multirun_of_a_variant_runs_its_stored_grid(tmp_path):
    sweep = tmp_path / "sweep"
    result = run_fedrun(
        [
            "-m",
            "experiment=fedprox_synthetic_reduced_seeds",
            "rounds=2",
            "preprocess.epochs=2",
            f"hydra.sweep.dir={sweep}",
        ]
    )
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = sorted(
        (p for p in sweep.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name)
    )
    methods, seeds = ("fedavg", "fedprox_mu0", "fedprox_mu1"), ("0", "1", "2")
    assert len(jobs) == len(methods) * len(seeds)
    seen = set()
    for job in jobs:
        overrides = dict(
            o.split("=", 1) for o in yaml.safe_load((job / ".hydra" / "overrides.yaml").read_text())
        )
        assert overrides["experiment"] == "fedprox_synthetic_reduced_seeds"
        assert overrides["dataset"] == "synthetic" and overrides["stragglers.fraction"] == "0.9"
        seen.add((overrides["fedprox_synthetic/method"], overrides["seed"]))
        config = yaml.safe_load((job / ".hydra" / "config.yaml").read_text())
        expected_algorithm = (
            "fedavg" if overrides["fedprox_synthetic/method"] == "fedavg" else "fedprox"
        )
        assert config["algorithm"]["type"] == expected_algorithm
        summary = json.loads((job / "summary.json").read_text())
        assert summary["rounds"] == 2 and "train" in summary["final_eval"]
    assert seen == set(itertools.product(methods, seeds))
