"""`fedrun` with an `attack:` block end to end: the run trains and logs the attack's
measurements; a bad block is refused before training with its config path."""

import json

import pytest

from tests.conftest import run_fedrun


def records(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_sign_flip_against_krum_trains_and_logs_measurements(tmp_path):
    result = run_fedrun(
        [
            f"hydra.run.dir={tmp_path}",
            "attack={kind: sign_flip, fraction: 0.2}",
            "aggregator=krum",
            "rounds=2",
            "progress=false",
        ]
    )
    assert result.returncode == 0, result.stderr
    for record in records(tmp_path):
        attack = record["client_work"]["attack"]
        assert attack["byzantine_selected"] + attack["byzantine_rejected"] == attack["byzantine"]
        assert len(record["aggregator"]["selected"]) == 1
    assert json.loads((tmp_path / "summary.json").read_text())["rounds"] == 2


@pytest.mark.slow
def test_backdoor_logs_its_success_rate(tmp_path):
    result = run_fedrun(
        [
            f"hydra.run.dir={tmp_path}",
            "attack={kind: backdoor, fraction: 0.3}",
            "rounds=2",
            "progress=false",
        ]
    )
    assert result.returncode == 0, result.stderr
    for record in records(tmp_path):
        assert 0 <= record["eval"]["backdoor"]["attack_success_rate"] <= 1
        assert record["eval"]["backdoor"]["num_examples"] > 0


@pytest.mark.slow
def test_too_many_attackers_for_krum_is_refused_before_training(tmp_path):
    result = run_fedrun(
        [f"hydra.run.dir={tmp_path}", "attack={kind: sign_flip, fraction: 0.4}", "aggregator=krum"]
    )
    assert result.returncode != 0
    assert (
        "attack.fraction" in result.stderr
        and "Krum at aggregator tolerates byzantine=2" in result.stderr
    )
    assert "Traceback" not in result.stderr and not (tmp_path / "metrics.jsonl").exists()
