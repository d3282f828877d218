"""Resuming a run: find the newest valid checkpoint and rewind the run's logs to it.

Re-running the same command in the same run directory continues from the newest
valid checkpoint in `<run dir>/checkpoints/`; `resume=PATH` names another run
directory, its `checkpoints/` directory, or one checkpoint's manifest. A
truncated or corrupt checkpoint is skipped with a warning naming it, and the next
older one is tried.

Rounds a killed process ran after its last checkpoint will run again, so the run
directory is rewound to the checkpoint's round: their lines are dropped from
`metrics.jsonl` (rewritten atomically), newer checkpoints are removed, and so are
their TensorBoard events (see `fedrun.training.tensorboard_rewind`).
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any, Mapping, NamedTuple, Optional

from fedrun.config.errors import ConfigError
from fedrun.training.atomic import write_atomic
from fedrun.training.checkpoint import (
    Checkpoint,
    CheckpointError,
    list_checkpoints,
    load_checkpoint,
)
from fedrun.training.checkpointer import delete_checkpoint
from fedrun.training.run_directory import CHECKPOINTS_DIR, METRICS_FILE, TENSORBOARD_DIR
from fedrun.training.tensorboard_rewind import rewind_event_files

logger = logging.getLogger(__name__)
# Settings that may change between a run and its resumption without comment.
RESUMABLE_CHANGES = ("rounds", "resume", "progress", "checkpoint", "logger")


def newest_valid(directory: str, template: Any, has_client_state: bool) -> Optional[Checkpoint]:
    """The newest checkpoint in `directory` that reads back intact, or None.

    Corrupt or truncated ones are skipped with a warning naming them.

    Raises:
        ConfigError: if a readable checkpoint does not fit this config's state.
    """
    for _, manifest_path in reversed(list_checkpoints(directory)):
        try:
            return load_checkpoint(manifest_path, template, has_client_state)
        except CheckpointError as err:
            logger.warning(
                "skipping unusable checkpoint %s: %s",
                manifest_path,
                err.problem if err.path == manifest_path else err,
            )
    return None


def check_resume_path(resume: str) -> str:
    """The absolute path `resume` names.

    Raises:
        ConfigError: if it is neither a file nor a directory.
    """
    path = os.path.abspath(os.path.expanduser(resume))
    if not (os.path.isfile(path) or os.path.isdir(path)):
        raise ConfigError(
            "resume", "no such checkpoint, checkpoints directory or run directory", resume
        )
    return path


def find_resume_checkpoint(
    resume: Optional[str], output_dir: str, template: Any, has_client_state: bool
) -> Optional[Checkpoint]:
    """The checkpoint a run continues from.

    Args:
        resume: The `resume` config value: None continues from the run
            directory's own checkpoints if it has any; else a run directory, a
            checkpoints directory or a manifest file.
        output_dir: This run's directory.
        template: The process's initial state (structure, dtypes and shapes).
        has_client_state: Whether the algorithm keeps per-client state.

    Raises:
        ConfigError: if `resume` names nothing usable, or the checkpoint does not
            fit this config.
    """
    if resume is None:
        return newest_valid(os.path.join(output_dir, CHECKPOINTS_DIR), template, has_client_state)
    path = check_resume_path(resume)
    if os.path.isfile(path):
        try:
            return load_checkpoint(path, template, has_client_state)
        except CheckpointError as err:
            raise ConfigError("resume", f"unusable checkpoint: {err}", resume) from None
    if os.path.isdir(os.path.join(path, CHECKPOINTS_DIR)):
        path = os.path.join(path, CHECKPOINTS_DIR)
    found = newest_valid(path, template, has_client_state)
    if found is None:
        raise ConfigError("resume", f"no valid checkpoint in {path}", resume)
    return found


def in_current_layout(saved: Mapping[str, Any]) -> dict[str, Any]:
    """A checkpoint's config with settings that moved since in their current place.

    FedOpt's server optimizer was once configured at `algorithm.server_optimizer`
    (the `server_optimizer` group then went unused); it is that group now.
    """
    algorithm = saved.get("algorithm")
    if not isinstance(algorithm, Mapping) or not isinstance(
        algorithm.get("server_optimizer"), Mapping
    ):
        return dict(saved)
    moved = {k: v for k, v in algorithm.items() if k != "server_optimizer"}
    return {**saved, "algorithm": moved, "server_optimizer": algorithm["server_optimizer"]}


def changed_settings(
    saved: Optional[Mapping[str, Any]], current: Mapping[str, Any], prefix: str = ""
) -> list[str]:
    """Config paths whose values differ between a checkpoint's run and this one."""
    if saved is None:
        return []
    if not prefix:
        saved = in_current_layout(saved)
    changed = []
    for key in sorted(set(saved) | set(current)):
        if not prefix and key in RESUMABLE_CHANGES:
            continue
        path = f"{prefix}.{key}" if prefix else str(key)
        old, new = saved.get(key), current.get(key)
        if isinstance(old, Mapping) and isinstance(new, Mapping):
            changed += changed_settings(old, new, path)
        elif old != new:
            changed.append(f"{path} ({old!r} -> {new!r})")
    return changed


def read_records(path: str) -> list[dict[str, Any]]:
    """The round records in a `metrics.jsonl` (a torn last line is ignored)."""
    if not os.path.exists(path):
        return []
    records = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and isinstance(record.get("round"), int):
                records.append(record)
    return records


def rewind_metrics(path: str, last_round: int) -> list[dict[str, Any]]:
    """Keeps the records of rounds `1..last_round` in `metrics.jsonl`, once each.

    Lines of later rounds (run after the checkpoint by a killed process) and torn
    lines are dropped; the file is rewritten atomically only if that changes it.

    Returns:
        The records kept, in round order.
    """
    if not os.path.exists(path):
        return []
    with open(path, "rb") as f:
        original = f.read()
    kept: dict[int, dict[str, Any]] = {}
    for record in read_records(path):
        if record["round"] <= last_round:
            kept.setdefault(record["round"], record)
    records = [kept[r] for r in sorted(kept)]
    content = "".join(json.dumps(r) + "\n" for r in records).encode()
    if content != original:
        write_atomic(path, content)
    return records


def discard_later_checkpoints(directory: str, round_num: int) -> None:
    """Removes checkpoints newer than `round_num` (a rewound run writes them again)."""
    for saved_round, manifest_path in list_checkpoints(directory):
        if saved_round > round_num:
            logger.warning(
                "removing checkpoint %s: the run continues from round %d", manifest_path, round_num
            )
            delete_checkpoint(manifest_path)


def rewind_run_directory(output_dir: str, round_num: int) -> list[dict[str, Any]]:
    """Rewinds `output_dir` to the end of `round_num` (0: a fresh start).

    Returns:
        The records of rounds `1..round_num` already in `metrics.jsonl`.
    """
    discard_later_checkpoints(os.path.join(output_dir, CHECKPOINTS_DIR), round_num)
    rewind_event_files(os.path.join(output_dir, TENSORBOARD_DIR), round_num + 1)
    return rewind_metrics(os.path.join(output_dir, METRICS_FILE), round_num)


class ResumePoint(NamedTuple):
    """Where a run (re)starts.

    Attributes:
        state: The learning state to continue from.
        round_num: The last completed round (0 for a fresh start).
        records: The records of rounds `1..round_num` already logged.
        checkpoint: The manifest resumed from, or None.
    """

    state: Any
    round_num: int
    records: list[dict[str, Any]]
    checkpoint: Optional[str]


def prepare_resume(
    process: Any,
    output_dir: str,
    resume: Optional[str],
    auto_resume: bool,
    config: Mapping[str, Any],
) -> ResumePoint:
    """Restores the newest valid checkpoint (if any) and rewinds the run directory to it.

    Args:
        process: The learning process (its `initialize()` gives the structure; its
            `client_states`, if not None, receives the saved per-client state).
        output_dir: This run's directory.
        resume: The `resume` config value (None: this directory's checkpoints).
        auto_resume: Whether to look for this directory's own checkpoints when
            `resume` is None (checkpoints enabled).
        config: The run's plain config, compared with the checkpoint's.
    """
    template = process.initialize()
    client_states = getattr(process, "client_states", None)
    checkpoint = None
    if resume is not None or auto_resume:
        checkpoint = find_resume_checkpoint(resume, output_dir, template, client_states is not None)
    if checkpoint is None:
        return ResumePoint(template, 0, rewind_run_directory(output_dir, 0), None)
    if client_states is not None:
        client_states.load_state_dict(checkpoint.client_state)
    changed = changed_settings(checkpoint.manifest.get("config"), config)
    if changed:
        logger.warning(
            "resuming with settings that differ from the checkpoint's run: %s", "; ".join(changed)
        )
    logger.info("resuming from %s (round %d)", checkpoint.path, checkpoint.round_num)
    records = rewind_run_directory(output_dir, checkpoint.round_num)
    return ResumePoint(checkpoint.state, checkpoint.round_num, records, checkpoint.path)
