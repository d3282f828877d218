"""Fake run and sweep directories in the exact layout fedrun and Hydra write."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional, Sequence

import pytest


def write_run(
    directory: Path,
    overrides: Sequence[str],
    losses: Sequence[float],
    accuracies: Optional[Sequence[Optional[float]]] = None,
    seconds: float = 1.0,
) -> Path:
    """A run directory: `.hydra/overrides.yaml`, `metrics.jsonl`, `summary.json`.

    `accuracies[i]` is round i+1's federated evaluation accuracy (None: not evaluated).
    """
    (directory / ".hydra").mkdir(parents=True)
    (directory / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
    lines = []
    for i, loss in enumerate(losses):
        record = {
            "round": i + 1,
            "train": {"loss": loss, "accuracy": 1.0 - loss / 4, "num_examples": 100},
            "round_seconds": 0.5,
        }
        if accuracies is not None and accuracies[i] is not None:
            record["eval"] = {"federated": {"accuracy": accuracies[i], "loss": loss + 0.1}}
        lines.append(json.dumps(record))
    (directory / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    (directory / "summary.json").write_text(json.dumps({"rounds": len(losses), "seconds": seconds}))
    return directory


@pytest.fixture
def seed_sweep(tmp_path):
    """A sweep of 2 learning rates x 2 seeds, jobs numbered as Hydra numbers them."""
    sweep = tmp_path / "multirun" / "2026-01-01" / "12-00-00"
    jobs = [
        (
            ["client_optimizer.learning_rate=0.1", "seed=0", "rounds=3"],
            [2.0, 1.5, 1.0],
            [0.5, 0.6, 0.7],
        ),
        (
            ["client_optimizer.learning_rate=0.1", "seed=1", "rounds=3"],
            [2.0, 1.4, 0.8],
            [0.5, 0.7, 0.9],
        ),
        (
            ["client_optimizer.learning_rate=0.01", "seed=0", "rounds=3"],
            [2.0, 1.9, 1.8],
            [0.2, 0.3, 0.4],
        ),
        (
            ["client_optimizer.learning_rate=0.01", "seed=1", "rounds=3"],
            [2.0, 1.8, 1.6],
            [0.2, 0.3, 0.2],
        ),
    ]
    for number, (overrides, losses, accuracies) in enumerate(jobs):
        write_run(sweep / str(number), overrides, losses, accuracies, seconds=10.0 + number)
    (sweep / "multirun.yaml").write_text("hydra: {}\n")
    return sweep
