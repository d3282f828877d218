"""Finding the checkpoint to resume from, and rewinding a run directory to it."""

import json
import logging

import numpy as np
import pytest

from fedrun.config.errors import ConfigError
from fedrun.training.checkpoint import list_checkpoints, save_checkpoint
from fedrun.training.resume import (
    changed_settings,
    check_resume_path,
    find_resume_checkpoint,
    prepare_resume,
    rewind_metrics,
    rewind_run_directory,
)
from tests.training.test_checkpoint import StandInClientStates, make_state


def write_metrics(path, rounds, torn_tail=""):
    lines = "".join(json.dumps({"round": r, "train": {"loss": 1.0 / r}}) + "\n" for r in rounds)
    path.write_text(lines + torn_tail)


@pytest.fixture
def run_dir(tmp_path):
    for round_num in (2, 4, 6):
        save_checkpoint(str(tmp_path / "checkpoints"), round_num, make_state(round_num))
    return tmp_path


# ------------------------------------------------------------------ choosing
def test_newest_valid_checkpoint_is_chosen(run_dir):
    found = find_resume_checkpoint(None, str(run_dir), make_state(), False)
    assert found.round_num == 6
    assert float(found.state.global_model_weights.trainable[0][0, 0]) == 6.0


def test_corrupt_newest_is_skipped_with_a_warning_naming_it(run_dir, caplog):
    newest = run_dir / "checkpoints" / "round_000006.npz"
    newest.write_bytes(newest.read_bytes()[:-50])
    with caplog.at_level(logging.WARNING):
        found = find_resume_checkpoint(None, str(run_dir), make_state(), False)
    assert found.round_num == 4
    assert "round_000006" in caplog.text and "checksum" in caplog.text


def test_fresh_directory_has_nothing_to_resume(tmp_path):
    assert find_resume_checkpoint(None, str(tmp_path), make_state(), False) is None


@pytest.mark.parametrize(
    "target, expected_round",
    [("run", 6), ("checkpoints", 6), ("checkpoints/round_000004.json", 4)],
    ids=["run-directory", "checkpoints-directory", "one-manifest"],
)
def test_resume_path_forms(run_dir, tmp_path_factory, target, expected_round):
    other = tmp_path_factory.mktemp("new_run")
    path = str(run_dir) if target == "run" else str(run_dir / target)
    assert find_resume_checkpoint(path, str(other), make_state(), False).round_num == expected_round


@pytest.mark.parametrize(
    "target, message",
    [
        ("missing", "no such checkpoint"),
        ("empty", "no valid checkpoint"),
        ("corrupt", "unusable checkpoint"),
    ],
    ids=["missing-path", "no-checkpoints", "corrupt-manifest"],
)
def test_bad_resume_path_is_a_config_error(run_dir, tmp_path, target, message):
    (tmp_path / "empty").mkdir()
    (run_dir / "checkpoints" / "round_000004.json").write_text("{")
    path = {
        "missing": tmp_path / "missing",
        "empty": tmp_path / "empty",
        "corrupt": run_dir / "checkpoints" / "round_000004.json",
    }
    with pytest.raises(ConfigError, match=message) as caught:
        find_resume_checkpoint(str(path[target]), str(tmp_path), make_state(), False)
    assert caught.value.path == "resume"


# ------------------------------------------------------------------ rewinding
def test_rewind_drops_rounds_after_the_checkpoint_and_a_torn_line(tmp_path):
    path = tmp_path / "metrics.jsonl"
    write_metrics(path, [1, 2, 3, 4, 5], torn_tail='{"round": 6, "tra')
    records = rewind_metrics(str(path), 3)
    assert [r["round"] for r in records] == [1, 2, 3]
    assert [json.loads(line)["round"] for line in path.read_text().splitlines()] == [1, 2, 3]


def test_rewind_leaves_an_intact_file_untouched(tmp_path):
    path = tmp_path / "metrics.jsonl"
    write_metrics(path, [1, 2])
    before = path.stat().st_mtime_ns, path.stat().st_ino
    assert [r["round"] for r in rewind_metrics(str(path), 5)] == [1, 2]
    assert (path.stat().st_mtime_ns, path.stat().st_ino) == before


def test_rewind_removes_later_checkpoints(run_dir):
    write_metrics(run_dir / "metrics.jsonl", range(1, 8))
    records = rewind_run_directory(str(run_dir), 4)
    assert [r for r, _ in list_checkpoints(str(run_dir / "checkpoints"))] == [2, 4]
    assert len(records) == 4


def test_prepare_resume_restores_state_and_client_state(run_dir):
    save_checkpoint(
        str(run_dir / "checkpoints"), 8, make_state(8), {"c": np.ones(2, np.float32)}, {"seed": 1}
    )
    write_metrics(run_dir / "metrics.jsonl", range(1, 10))

    class Process:
        client_states = StandInClientStates()

        def initialize(self):
            return make_state()

    process = Process()
    start = prepare_resume(process, str(run_dir), None, True, {"seed": 1})
    assert (
        start.round_num == 8
        and len(start.records) == 8
        and start.checkpoint.endswith("round_000008.json")
    )
    np.testing.assert_array_equal(process.client_states.arrays["c"], np.ones(2))


def test_changed_settings_ignore_rounds_and_name_the_rest():
    saved = {"rounds": 10, "seed": 0, "server_optimizer": {"type": "sgd", "learning_rate": 1.0}}
    current = {"rounds": 20, "seed": 0, "server_optimizer": {"type": "sgd", "learning_rate": 0.5}}
    assert changed_settings(saved, current) == ["server_optimizer.learning_rate (1.0 -> 0.5)"]


def test_resume_path_is_checked_on_its_own(run_dir, tmp_path):
    assert check_resume_path(str(run_dir)) == str(run_dir)
    with pytest.raises(ConfigError, match="no such checkpoint") as caught:
        check_resume_path(str(tmp_path / "nowhere"))
    assert caught.value.path == "resume" and caught.value.value == str(tmp_path / "nowhere")


def test_changed_settings_read_fedopts_old_server_optimizer_node_in_its_new_place():
    adam = {"type": "adam", "learning_rate": 0.01, "tau": 0.001}
    saved = {
        "algorithm": {"type": "fedopt", "weighted": True, "server_optimizer": adam},
        "server_optimizer": {"type": "sgd", "learning_rate": 1.0},
    }
    current = {"algorithm": {"type": "fedopt", "weighted": True}, "server_optimizer": adam}
    assert changed_settings(saved, current) == []
    faster = {"algorithm": current["algorithm"], "server_optimizer": {**adam, "tau": 0.1}}
    assert changed_settings(saved, faster) == ["server_optimizer.tau (0.001 -> 0.1)"]
