"""`huggingface`: a Hugging Face `datasets` set as federated clients (extra `fedrun[hf]`).

Where the data comes from (`dataset.name` or `dataset.path`):

* `name`: a Hub set (`flwrlabs/femnist`), loaded with `datasets.load_dataset`
  through the Hub's own cache (`HF_HOME`, `HF_DATASETS_CACHE`). Loading from the
  Hub needs `dataset.download=true`; with `HF_HUB_OFFLINE=1` or
  `HF_DATASETS_OFFLINE=1` only the local Hub cache is read;
* `path`: a directory written by `save_to_disk` (a `Dataset` or `DatasetDict`),
  a directory of parquet or arrow files (splits named by file name, as on the
  Hub), or one `.parquet` / `.arrow` file.

How it becomes clients: `partition_by: COLUMN` makes one client per value of
that column (Flower's natural partitions: `writer_id`, `character_id`); without
it a fedrun partitioner (`partition`, `num_clients`) splits the examples, as for
the built-in centralized sets. `client_test_fraction` of each client is kept as
its test split, `central_test_size` examples (or all of `test_split`) as the
centralized test set.

Features (`feature`, `label`, `decode`): `image` decodes an image column to
float32 pixels divided by `scale`; `array` reads a numeric column as float32;
`next_chars` turns a text column (and its next character in `label`) into TFF's
character ids for `char_rnn`. Only the partitioning column and the labels are
read at start; a client's rows are read and decoded when the client is used, so
a 3,500-writer set never sits in memory at once.
"""

from __future__ import annotations

import dataclasses
import glob
import os
from typing import Any, Literal, Optional

import numpy as np

from fedrun.config.params import bounded
from fedrun.data import chars
from fedrun.data.centralized import SplitParams, split_clients
from fedrun.data.client_data import Arrays, FederatedData, StoredClientData
from fedrun.data.errors import DataError
from fedrun.data.partition import split_train_test
from fedrun.data.registry import DATASETS, DataContext

HOW_TO_INSTALL = "install the Hugging Face extra with `pip install 'fedrun[hf]'`"
OFFLINE_ENV = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")


@dataclasses.dataclass(frozen=True)
class HuggingFaceParams(SplitParams):
    """A `datasets` set and how it becomes clients (see the module docstring).

    Attributes:
        name: A Hub data set id; null when `path` is set.
        path: A local `save_to_disk` directory, parquet/arrow directory or file.
        config: The Hub set's configuration name, if it has several.
        revision: A Hub revision (commit, tag) to pin.
        split: The split clients are made of.
        test_split: A split used whole as the centralized test set.
        feature: The feature column.
        label: The label column.
        decode: `image`, `array` or `next_chars`.
        scale: `image`: pixel values are divided by it.
        num_classes: Label classes; null: from a `ClassLabel` column, else max label + 1.
        partition_by: The column whose values are the clients; null: `partition`.
        download: Allow `name` to be loaded from the Hub over the network.
    """

    name: Optional[str] = None
    path: Optional[str] = None
    config: Optional[str] = None
    revision: Optional[str] = None
    split: str = "train"
    test_split: Optional[str] = None
    feature: str = "image"
    label: str = "label"
    decode: Literal["image", "array", "next_chars"] = "image"
    scale: float = bounded(255.0, gt=0)
    num_classes: Optional[int] = None
    partition_by: Optional[str] = None
    download: bool = False


def _datasets() -> Any:
    try:
        import datasets
    except ImportError:
        raise DataError(
            "huggingface", f"the `datasets` library is not installed; {HOW_TO_INSTALL}"
        ) from None
    return datasets


def _local_split(path: str, split: str) -> Any:
    """One split of a local save_to_disk directory or parquet/arrow files."""
    datasets = _datasets()
    if os.path.isdir(path) and any(
        os.path.exists(os.path.join(path, f)) for f in ("dataset_dict.json", "state.json")
    ):
        loaded = datasets.load_from_disk(path)
        if isinstance(loaded, datasets.DatasetDict):
            if split not in loaded:
                raise DataError(path, f"no split {split!r}; the saved set has {sorted(loaded)}")
            return loaded[split]
        return loaded
    kind = (
        "parquet"
        if glob.glob(os.path.join(path, "*.parquet")) or path.endswith(".parquet")
        else "arrow"
    )
    if os.path.isdir(path):
        return datasets.load_dataset(kind, data_dir=path, split=split)
    return datasets.load_dataset(kind, data_files={split: path}, split=split)


def load_split(p: HuggingFaceParams, split: str, config_path: str) -> Any:
    """One split as a `datasets.Dataset` (memory-mapped Arrow: nothing is decoded yet)."""
    from fedrun.config.errors import ConfigError

    if (p.name is None) == (p.path is None):
        raise ConfigError(
            config_path,
            "set exactly one of dataset.name (a Hub set) and dataset.path (local files)",
            p.name,
        )
    if p.path is not None:
        path = os.path.expanduser(p.path)
        if not os.path.exists(path):
            raise DataError(
                path, "not found: expected a save_to_disk directory or parquet/arrow files"
            )
        source = path
    else:
        if not p.download and not any(
            os.environ.get(v, "").lower() in ("1", "true", "yes") for v in OFFLINE_ENV
        ):
            raise ConfigError(
                f"{config_path}.download",
                f"dataset.name={p.name} loads from the Hugging Face Hub: add dataset.download=true, or set "
                "HF_HUB_OFFLINE=1 to read only the local Hub cache",
                p.download,
            )
        source = str(p.name)  # set: exactly one of name and path is
    try:
        if p.path is not None:
            return _local_split(source, split)
        return _datasets().load_dataset(p.name, p.config, split=split, revision=p.revision)
    except (DataError, ConfigError):
        raise
    except (
        Exception
    ) as err:  # datasets raises many unrelated types for unreadable or unreachable sets
        raise DataError(
            source, f"cannot load split {split!r}: {type(err).__name__}: {err}"
        ) from None


class HuggingFaceClientData(StoredClientData):
    """Clients that are row sets of one `datasets.Dataset`, decoded when read.

    Args:
        dataset: The split.
        rows: Client id -> its row indices.
        p: The source's parameters (columns and decoding).
        source: Names the data in errors.
    """

    def __init__(
        self, dataset: Any, rows: dict[str, np.ndarray], p: HuggingFaceParams, source: str
    ) -> None:
        self._data = dataset.with_format("numpy", columns=[p.feature, p.label])
        self._rows = {cid: np.asarray(r, dtype=np.int64) for cid, r in rows.items() if len(r)}
        self._p, self._source = p, source
        super().__init__(list(self._rows), None)

    def _read(self, client_id: str) -> Arrays:
        if client_id not in self._rows:
            raise DataError(self._source, "no such client", client_id)
        batch = self._data[self._rows[client_id]]
        return decode(
            batch[self._p.feature], batch[self._p.label], self._p, self._source, client_id
        )

    def _count(self, client_id: str) -> Optional[int]:
        rows = self._rows.get(client_id)
        return None if rows is None else len(rows)


def decode(
    features: Any, labels: Any, p: HuggingFaceParams, source: str, client_id: Optional[str] = None
) -> Arrays:
    """Rows' feature and label columns as `{"x", "y"}` arrays."""
    if p.decode == "next_chars":
        texts = [t.decode() if isinstance(t, bytes) else str(t) for t in features]
        nexts = [t.decode() if isinstance(t, bytes) else str(t) for t in labels]
        x = np.stack([chars.encode(t) for t in texts]) if texts else np.zeros((0, 0), np.int32)
        y = np.stack([chars.encode(t[1:] + n) for t, n in zip(texts, nexts)]) if texts else x
        return {"x": x.astype(np.int32), "y": y.astype(np.int32)}
    x = np.asarray(features)
    if x.dtype == object:
        raise DataError(
            source,
            f"column {p.feature!r} does not stack into one array (images of different sizes?)",
            client_id,
        )
    x = x.astype(np.float32) / p.scale if p.decode == "image" else x.astype(np.float32)
    y = np.asarray(labels)
    if not np.issubdtype(y.dtype, np.integer):
        raise DataError(
            source, f"label column {p.label!r} has dtype {y.dtype}, expected integers", client_id
        )
    return {"x": x, "y": y.astype(np.int32)}


def _num_classes(dataset: Any, p: HuggingFaceParams, labels: np.ndarray) -> int:
    if p.decode == "next_chars":
        return chars.VOCAB_SIZE
    if p.num_classes is not None:
        return p.num_classes
    feature = dataset.features.get(p.label)
    return int(getattr(feature, "num_classes", None) or int(labels.max()) + 1)


def _check_column(dataset: Any, name: str, source: str) -> None:
    if name not in dataset.column_names:
        raise DataError(source, f"no column {name!r}; the set has {dataset.column_names}")


def _column(dataset: Any, name: str, source: str) -> np.ndarray:
    _check_column(dataset, name, source)
    return dataset.data.column(name).to_numpy(zero_copy_only=False)


def _by_column(
    values: np.ndarray, p: HuggingFaceParams, seed: int
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray]:
    """Train and test rows per value of the partitioning column, and held-out rows."""
    rng = np.random.default_rng([seed, 0x5EED])
    order = rng.permutation(len(values))
    held_out, rest = np.sort(order[: p.central_test_size]), np.sort(order[p.central_test_size :])
    keys, inverse = np.unique(values[rest].astype(str), return_inverse=True)
    grouped = np.split(
        rest[np.argsort(inverse, kind="stable")],
        np.cumsum(np.bincount(inverse, minlength=len(keys)))[:-1],
    )
    train, test = {}, {}
    for key, part in zip(keys, grouped):
        train[str(key)], test[str(key)] = split_train_test(part, p.client_test_fraction, rng)
    return train, test, held_out


@DATASETS.register("huggingface", HuggingFaceParams)
def build(
    p: HuggingFaceParams, context: DataContext, config_path: str = "dataset"
) -> FederatedData:
    """A Hugging Face set, one client per `partition_by` value or split by a partitioner."""
    from fedrun.config.errors import ConfigError

    if p.test_split is not None and p.central_test_size:
        raise ConfigError(
            f"{config_path}.central_test_size",
            "set either test_split or central_test_size, not both",
            p.central_test_size,
        )
    name = p.name or os.path.basename(os.path.normpath(p.path or "huggingface"))
    source = p.path or p.name or "huggingface"
    dataset = load_split(p, p.split, config_path)
    _check_column(dataset, p.feature, source)
    labels = _column(dataset, p.label, source)
    if p.decode != "next_chars" and not np.issubdtype(labels.dtype, np.integer):
        raise DataError(
            source, f"label column {p.label!r} has dtype {labels.dtype}, expected integer classes"
        )
    if p.partition_by is not None:
        train, test, held_out = _by_column(
            _column(dataset, p.partition_by, source), p, context.seed
        )
    else:
        # Text targets are characters, not classes: partitioners see one class.
        classes = (
            labels if np.issubdtype(labels.dtype, np.integer) else np.zeros(len(labels), np.int64)
        )
        split = split_clients(name.replace("/", "_"), classes, p, context.seed, config_path)
        train, test, held_out = split.train, split.test, split.held_out
    central = None
    if p.test_split is not None:
        test_set = load_split(p, p.test_split, config_path).with_format(
            "numpy", columns=[p.feature, p.label]
        )
        central = decode(test_set[p.feature], test_set[p.label], p, source)
    elif len(held_out):
        rows = dataset.with_format("numpy", columns=[p.feature, p.label])[held_out]
        central = decode(rows[p.feature], rows[p.label], p, source)
    test_data = (
        HuggingFaceClientData(dataset, test, p, source)
        if p.client_test_fraction > 0 and any(len(t) for t in test.values())
        else None
    )
    return FederatedData(
        name,
        HuggingFaceClientData(dataset, train, p, source),
        test_data,
        central,
        _num_classes(dataset, p, labels),
    )
