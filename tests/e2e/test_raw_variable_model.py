"""A user's raw-variable model trains from YAML like any registered model."""

import json

import pytest

from tests.conftest import run_fedrun


@pytest.mark.parametrize("runtime", ["vectorized", "sequential"], ids=["vectorized", "sequential"])
def test_raw_variable_model_trains_end_to_end(tmp_path, runtime):
    result = run_fedrun(
        [
            f"hydra.run.dir={tmp_path}",
            "rounds=2",
            "progress=false",
            "dataset.num_clients=20",
            f"runtime={runtime}",
            "~model.type",
            "+model._target_=tests.models.raw_variable_model.build",
            "allowed_targets=[tests.]",
        ]
    )
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert set(records[0]["train"]) == {"num_examples", "loss", "accuracy"}
    assert records[1]["train"]["loss"] < records[0]["train"]["loss"]
    assert records[1]["eval"]["centralized"]["accuracy"] > 0.3


def test_target_outside_allowed_prefixes_is_refused(tmp_path):
    result = run_fedrun(
        [
            f"hydra.run.dir={tmp_path}",
            "rounds=1",
            "~model.type",
            "+model._target_=tests.models.raw_variable_model.build",
        ]
    )
    assert result.returncode == 2
    assert "model._target_" in result.stderr and "allowed_targets" in result.stderr
