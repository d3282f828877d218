"""When the training loop saves checkpoints, and which it keeps."""

from __future__ import annotations

import logging
import os
import time
from typing import Any, Mapping, Optional

from fedrun.training.atomic import remove_stale_temporaries
from fedrun.training.checkpoint import (
    CheckpointConfig,
    checkpoint_name,
    list_checkpoints,
    save_checkpoint,
)

logger = logging.getLogger(__name__)


def delete_checkpoint(manifest_path: str) -> None:
    """Removes a checkpoint (manifest first, so it is never seen half-deleted)."""
    base = manifest_path[: -len(".json")]
    for file in (manifest_path, base + ".npz"):
        try:
            os.unlink(file)
        except FileNotFoundError:
            pass


def prune_checkpoints(directory: str, keep: int) -> list[str]:
    """Deletes all but the newest `keep` checkpoints and orphaned files; returns what went."""
    removed = remove_stale_temporaries(directory)
    listed = list_checkpoints(directory)
    for _, manifest_path in listed[: max(len(listed) - keep, 0)]:
        delete_checkpoint(manifest_path)
        removed.append(os.path.basename(manifest_path))
    manifests = {os.path.basename(p)[: -len(".json")] for _, p in list_checkpoints(directory)}
    for name in os.listdir(directory):
        if (
            name.startswith("round_")
            and name.endswith(".npz")
            and name[: -len(".npz")] not in manifests
        ):
            os.unlink(os.path.join(directory, name))
            removed.append(name)
    return removed


class Checkpointer:
    """Saves the learning state every `config.every` rounds and keeps the newest `config.keep`.

    Args:
        directory: The checkpoints directory.
        config: The `checkpoint:` config block.
        client_states: The algorithm's per-client state store (an object with
            `state_dict() -> dict[str, numpy array]`), or None.
        run_config: The run's plain config, recorded in each manifest.

    Attributes:
        last_saved_round: The newest round saved by this process (or restored).
        write_seconds: Wall time of each save, for benchmarks.
    """

    def __init__(
        self,
        directory: str,
        config: CheckpointConfig,
        client_states: Any = None,
        run_config: Optional[Mapping[str, Any]] = None,
        last_saved_round: int = 0,
    ) -> None:
        self.directory = directory
        self.config = config
        self.client_states = client_states
        self.run_config = run_config
        self.last_saved_round = last_saved_round
        self.write_seconds: list[float] = []

    def is_due(self, round_num: int, last_round: int) -> bool:
        """Whether the periodic policy saves after `round_num`."""
        every = self.config.every
        return round_num == last_round or (every > 0 and round_num % every == 0)

    def save(self, round_num: int, state: Any) -> str:
        """Saves now (unless this round is already saved); returns the manifest path."""
        path = os.path.join(self.directory, checkpoint_name(round_num) + ".json")
        if round_num == self.last_saved_round and os.path.exists(path):
            return path
        started = time.perf_counter()
        client_state = self.client_states.state_dict() if self.client_states is not None else None
        path = save_checkpoint(self.directory, round_num, state, client_state, self.run_config)
        self.last_saved_round = round_num
        try:
            prune_checkpoints(self.directory, self.config.keep)
        except OSError as err:  # the new checkpoint is safe; old ones merely linger
            logger.warning("could not remove old checkpoints in %s: %s", self.directory, err)
        self.write_seconds.append(time.perf_counter() - started)
        return path

    def summary(self) -> dict[str, Any]:
        """What this process saved: count, newest round, write times (seconds)."""
        times = sorted(self.write_seconds)
        return {
            "saved": len(times),
            "last_round": self.last_saved_round,
            "median_write_seconds": times[len(times) // 2] if times else None,
            "max_write_seconds": times[-1] if times else None,
            "directory": self.directory,
        }
