"""Checkpoints: the whole learning state after a round, as arrays plus JSON.

A checkpoint of round N is two files in the run's `checkpoints/` directory:

* `round_00000N.npz`: every array, stored uncompressed with numpy (read back with
  `allow_pickle=False`, so loading never runs code). Members are `s<i>` for the
  i-th leaf of the `LearningAlgorithmState` in `tf.nest` order (model weights,
  server optimizer state, aggregator state such as adaptive clipping norms and DP
  accounting, ...) and `c<i>` for per-client state (SCAFFOLD's control variates:
  `process.client_states.state_dict()`), when the algorithm keeps one.
* `round_00000N.json`: the manifest: round, the SHA-256 of the `.npz`, each
  leaf's nest path, dtype and shape, the per-client keys, and the run's config.

The manifest is written last, so a checkpoint exists only once both files are
complete; each file is written atomically (see `fedrun.training.atomic`).

No random-number state is saved because fedrun keeps none between rounds: every
random choice is a pure function of (config seed, round, client id): the sampler
(`default_rng([seed, round, ...])`), each client's shuffle (`client_seed`),
dropout seeds (`client_seeds`), and model initialization (`seed`, replaced by the
restored weights anyway). Anything else random must live in the process state,
which is saved. So the round number is all a resumed run needs to continue
exactly as an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import re
import time
from typing import Any, Mapping, NamedTuple, Optional

import numpy as np
import tensorflow as tf

from fedrun.config.errors import ConfigError
from fedrun.config.params import bounded
from fedrun.training.atomic import fsync_directory, write_atomic

FORMAT = "fedrun-checkpoint"
VERSION = 1
_NAME = re.compile(r"^round_(\d+)\.json$")


@dataclasses.dataclass(frozen=True)
class CheckpointConfig:
    """The `checkpoint:` block of the config.

    Attributes:
        enabled: Write checkpoints (and resume from them).
        every: Save after every N-th round; the last round, an interrupt (SIGINT,
            SIGTERM) and a failed round always save. 0: only those.
        keep: How many of the newest checkpoints to keep.
    """

    enabled: bool = True
    every: int = bounded(10, ge=0)
    keep: int = bounded(3, ge=1)


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be written, or read back (corrupt or truncated).

    Attributes:
        path: The file at fault.
        problem: What went wrong.
    """

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class Checkpoint(NamedTuple):
    """A checkpoint read back.

    Attributes:
        round_num: The round after which it was saved.
        state: The learning state, packed like the process's initial state.
        client_state: Per-client arrays (`state_dict` form), or None.
        manifest: The parsed manifest.
        path: The manifest's path.
    """

    round_num: int
    state: Any
    client_state: Optional[dict[str, np.ndarray]]
    manifest: dict[str, Any]
    path: str


def checkpoint_name(round_num: int) -> str:
    """`round_000050` for round 50."""
    return f"round_{round_num:06d}"


def nest_paths(structure: Any) -> list[str]:
    """Slash-joined paths of the leaves of `structure`, in `tf.nest.flatten` order."""
    paths: list[str] = []

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, Mapping):
            for key in sorted(node):
                walk(node[key], f"{prefix}/{key}" if prefix else str(key))
        elif isinstance(node, tuple) and hasattr(node, "_fields"):
            for name in node._fields:
                walk(getattr(node, name), f"{prefix}/{name}" if prefix else name)
        elif isinstance(node, (list, tuple)):
            for i, item in enumerate(node):
                walk(item, f"{prefix}/{i}" if prefix else str(i))
        else:
            paths.append(prefix)

    walk(structure, "")
    if len(paths) != len(tf.nest.flatten(structure)):
        raise TypeError(
            "the state holds a structure tf.nest flattens differently; use dicts, lists, tuples or NamedTuples"
        )
    return paths


def _describe(name: str, array: np.ndarray, **extra: Any) -> dict[str, Any]:
    return {**extra, "member": name, "dtype": array.dtype.str, "shape": list(array.shape)}


def _as_array(value: Any, where: str, path: str) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype.hasobject:
        raise CheckpointError(
            path, f"{where} is not a numeric array (dtype {array.dtype}); it cannot be checkpointed"
        )
    return array


def save_checkpoint(
    directory: str,
    round_num: int,
    state: Any,
    client_state: Optional[Mapping[str, Any]] = None,
    config: Optional[Mapping[str, Any]] = None,
) -> str:
    """Writes the checkpoint of `round_num` atomically; returns the manifest's path.

    Args:
        directory: The checkpoints directory (created if missing).
        round_num: The last completed round.
        state: The learning state (a nest of tensors).
        client_state: Per-client arrays (`client_states.state_dict()`), if any.
        config: The run's config, recorded for comparison on resume.

    Raises:
        CheckpointError: if the files cannot be written (the previous
            checkpoints are untouched).
    """
    os.makedirs(directory, exist_ok=True)
    name = checkpoint_name(round_num)
    manifest_path = os.path.join(directory, name + ".json")
    leaves = tf.nest.flatten(state)
    arrays: dict[str, np.ndarray] = {}
    state_entries = []
    for i, (path, leaf) in enumerate(zip(nest_paths(state), leaves)):
        arrays[f"s{i}"] = _as_array(leaf, f"state leaf {path!r}", manifest_path)
        state_entries.append(_describe(f"s{i}", arrays[f"s{i}"], path=path))
    client_entries = None
    if client_state is not None:
        client_entries = []
        for i, key in enumerate(sorted(client_state)):
            arrays[f"c{i}"] = _as_array(client_state[key], f"client state {key!r}", manifest_path)
            client_entries.append(_describe(f"c{i}", arrays[f"c{i}"], key=key))
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    payload = buffer.getvalue()
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "round": round_num,
        "arrays": name + ".npz",
        "sha256": hashlib.sha256(payload).hexdigest(),
        "bytes": len(payload),
        "state": state_entries,
        "client_state": client_entries,
        "config": dict(config) if config is not None else None,
        "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    try:
        write_atomic(os.path.join(directory, name + ".npz"), payload, sync_directory=False)
        write_atomic(manifest_path, json.dumps(manifest, indent=1).encode(), sync_directory=False)
        fsync_directory(directory)
    except OSError as err:
        raise CheckpointError(
            manifest_path, f"cannot write the checkpoint: {err.strerror or err}"
        ) from err
    return manifest_path


def list_checkpoints(directory: str) -> list[tuple[int, str]]:
    """`(round, manifest path)` of every manifest in `directory`, oldest first."""
    if not os.path.isdir(directory):
        return []
    found = []
    for name in os.listdir(directory):
        match = _NAME.match(name)
        if match:
            found.append((int(match.group(1)), os.path.join(directory, name)))
    return sorted(found)


def read_manifest(path: str) -> dict[str, Any]:
    """The parsed manifest at `path`.

    Raises:
        CheckpointError: if it is missing, truncated or not a fedrun manifest.
    """
    try:
        with open(path, "rb") as f:
            manifest = json.loads(f.read())
    except OSError as err:
        raise CheckpointError(path, f"cannot read the manifest: {err.strerror or err}") from None
    except ValueError as err:
        raise CheckpointError(path, f"the manifest is not valid JSON (truncated?): {err}") from None
    required = {"format", "version", "round", "arrays", "sha256", "state", "client_state"}
    if (
        not isinstance(manifest, dict)
        or manifest.get("format") != FORMAT
        or not required <= set(manifest)
    ):
        raise CheckpointError(path, "not a fedrun checkpoint manifest")
    if manifest["version"] != VERSION:
        raise CheckpointError(
            path,
            f"checkpoint format version {manifest['version']} is not supported (expected {VERSION})",
        )
    return manifest


def check_compatible(
    manifest: Mapping[str, Any], template: Any, path: str, has_client_state: bool
) -> None:
    """Checks that the saved state fits the state this run's config builds.

    Raises:
        ConfigError: (path `resume`) naming the first leaf whose path, dtype or
            shape differs, since a changed config (model, optimizer, aggregator)
            cannot continue from this checkpoint.
    """
    hint = "start the run in a new directory (hydra.run.dir=...) or restore the config the checkpoint was written with"
    saved = manifest["state"]
    expected = [
        {"path": p, "dtype": np.asarray(leaf).dtype.str, "shape": list(np.shape(leaf))}
        for p, leaf in zip(nest_paths(template), tf.nest.flatten(template))
    ]
    if len(saved) != len(expected):
        raise ConfigError(
            "resume",
            f"checkpoint {path} holds {len(saved)} state arrays, this config's state has {len(expected)}; {hint}",
        )
    for have, want in zip(saved, expected):
        for key in ("path", "dtype", "shape"):
            if have.get(key) != want[key]:
                raise ConfigError(
                    "resume",
                    f"checkpoint {path} does not match this config: state leaf {want['path']!r} has {key} "
                    f"{have.get(key)} in the checkpoint and {want[key]} here; {hint}",
                )
    if (manifest["client_state"] is not None) != has_client_state:
        kept = "keeps" if manifest["client_state"] is not None else "keeps no"
        raise ConfigError(
            "resume",
            f"checkpoint {path} {kept} per-client state, unlike this config's algorithm; {hint}",
        )


def _read_arrays(directory: str, manifest: Mapping[str, Any], path: str) -> dict[str, np.ndarray]:
    npz_path = os.path.join(directory, os.path.basename(str(manifest["arrays"])))
    try:
        with open(npz_path, "rb") as f:
            payload = f.read()
    except OSError as err:
        raise CheckpointError(npz_path, f"cannot read the arrays: {err.strerror or err}") from None
    if hashlib.sha256(payload).hexdigest() != manifest["sha256"]:
        raise CheckpointError(
            npz_path, f"checksum mismatch ({len(payload)} bytes; truncated or corrupt)"
        )
    try:
        with np.load(io.BytesIO(payload), allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (OSError, ValueError) as err:
        raise CheckpointError(npz_path, f"unreadable arrays: {err}") from None
    for entry in list(manifest["state"]) + list(manifest["client_state"] or []):
        array = arrays.get(entry["member"])
        if (
            array is None
            or array.dtype.str != entry["dtype"]
            or list(array.shape) != entry["shape"]
        ):
            raise CheckpointError(
                npz_path, f"member {entry['member']!r} is missing or differs from the manifest"
            )
    return arrays


def _like(template_leaf: Any, array: np.ndarray) -> Any:
    if isinstance(template_leaf, (tf.Tensor, tf.Variable)):
        return tf.constant(array)
    if isinstance(template_leaf, np.ndarray):
        return array
    if isinstance(template_leaf, np.generic):
        return array[()]
    return array.item() if array.ndim == 0 else array


def load_checkpoint(path: str, template: Any, has_client_state: bool = False) -> Checkpoint:
    """Reads the checkpoint whose manifest is `path` into the structure of `template`.

    Args:
        path: The manifest (`round_*.json`).
        template: A state of the same structure (`process.initialize()`).
        has_client_state: Whether this run's algorithm keeps per-client state.

    Raises:
        CheckpointError: if the checkpoint is truncated or corrupt.
        ConfigError: if it does not match this config's state.
    """
    manifest = read_manifest(path)
    check_compatible(manifest, template, path, has_client_state)
    arrays = _read_arrays(os.path.dirname(path), manifest, path)
    leaves = [
        _like(t, arrays[e["member"]]) for t, e in zip(tf.nest.flatten(template), manifest["state"])
    ]
    state = tf.nest.pack_sequence_as(template, leaves)
    client_state = None
    if manifest["client_state"] is not None:
        client_state = {e["key"]: arrays[e["member"]] for e in manifest["client_state"]}
    return Checkpoint(int(manifest["round"]), state, client_state, manifest, path)
