"""Config mistakes on the command line: refused before training with the path, the
bad value and what is allowed, and no Python traceback."""

import pytest

from tests.conftest import run_fedrun


@pytest.mark.parametrize(
    "override, exit_code, expected",
    [
        ("rounds=ten", 1, ["rounds", "ten", "Integer"]),
        ("checkpoint.keep=0", 2, ["checkpoint.keep: value out of range (got 0); allowed: >= 1"]),
        ("+colour=blue", 2, ["colour: unknown key", "allowed:"]),
        (
            "min_clients=11",
            2,
            ["min_clients: cannot exceed clients_per_round (got 11); allowed: 1..10"],
        ),
        ("resume=/nonexistent/run", 2, ["resume:", "/nonexistent/run"]),
    ],
    ids=["hydra-typed-top-level", "out-of-range", "unknown-key", "cross-field", "missing-resume"],
)
def test_config_mistake_is_refused_without_traceback(tmp_path, override, exit_code, expected):
    result = run_fedrun([f"hydra.run.dir={tmp_path}", override])
    assert result.returncode == exit_code, result.stderr
    for text in expected:
        assert text in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "metrics.jsonl").exists() and not (tmp_path / "checkpoints").exists()


def test_unwritable_run_directory_is_refused_at_once(tmp_path):
    (tmp_path / "file").write_text("")
    result = run_fedrun([f"hydra.run.dir={tmp_path / 'file' / 'run'}"])
    assert result.returncode == 1
    assert (
        "cannot write to the run directory" in result.stderr and "Not a directory" in result.stderr
    )
    assert "Traceback" not in result.stderr
