"""TFF's federated data sets: where they are published and how they land in the cache.

TFF has published each set in two formats. Releases up to the HDF5 era fetched
`tar.bz2` archives of HDF5 files with `tf.keras.utils.get_file`, passing a
SHA-256 that fedrun pins here (from TFF's `simulation/datasets/{emnist,
shakespeare,stackoverflow,cifar100}.py` of those releases). Newer releases
(0.87) fetch LZMA-compressed SQLite databases (`download.get_compressed_file`)
and publish no checksum; fedrun pins CIFAR-100's from FedJAX
(`fedjax/datasets/cifar100.py`, which validates the same TFF file) and trusts
the others on first use (`fedrun.data.download`).

Everything lands in `$FEDRUN_CACHE_DIR/tff/` (default `~/.cache/fedrun/tff`):
archives are extracted (their expected members only) and LZMA files
decompressed, then deleted; each output appears under its final name only once complete.
"""

from __future__ import annotations

import dataclasses
import lzma
import os
import shutil
import sys
import tarfile
from pathlib import Path
from typing import Literal, Optional

from fedrun.data.cache import cache_dir
from fedrun.data.download import DownloadError, Remote, fetch
from fedrun.data.errors import DataError

BASE_URL = "https://storage.googleapis.com/tff-datasets-public/"
OLD_TFF = (
    "TFF's simulation/datasets/*.py before its SQLite release (tf.keras.utils.get_file file_hash)"
)
Format = Literal["hdf5", "sqlite"]


@dataclasses.dataclass(frozen=True)
class Artifact:
    """One published file and the files it yields in the data directory.

    Attributes:
        remote: The published file.
        outputs: The files it yields (archive members, or the decompressed file).
        note: Shown before the download starts (sizes, warnings).
    """

    remote: Remote
    outputs: tuple[str, ...]
    note: str = ""


def _hdf5(
    archive: str, sha256: str, stem: str, splits: tuple[str, ...], note: str = ""
) -> Artifact:
    remote = Remote(BASE_URL + archive, sha256=sha256, checksum_source=OLD_TFF)
    return Artifact(remote, tuple(f"{stem}_{s}.h5" for s in splits), note)


def _sqlite(
    name: str,
    sha256: Optional[str] = None,
    size: Optional[int] = None,
    source: str = "",
    note: str = "",
) -> Artifact:
    remote = Remote(
        BASE_URL + f"{name}.sqlite.lzma", sha256=sha256, size=size, checksum_source=source
    )
    return Artifact(remote, (f"{name}.sqlite",), note)


_STACKOVERFLOW_NOTE = (
    "Stack Overflow is large (342,477 train users, 135,818,730 train examples; tens of GB once unpacked): "
    "make sure the cache directory has room"
)
_EMNIST_SQLITE = _sqlite(
    "emnist_all", note="one database holds both EMNIST sets (digits_only_* and all_* splits)"
)
CATALOG: dict[str, dict[str, Artifact]] = {
    "emnist": {
        "hdf5": _hdf5(
            "fed_emnist.tar.bz2",
            "fe1ed5a502cea3a952eb105920bff8cffb32836b5173cb18a57a32c3606f3ea0",
            "fed_emnist",
            ("train", "test"),
        ),
        "sqlite": _EMNIST_SQLITE,
    },
    "emnist_digits": {
        "hdf5": _hdf5(
            "fed_emnist_digitsonly.tar.bz2",
            "55333deb8546765427c385710ca5e7301e16f4ed8b60c1dc5ae224b42bd5b14b",
            "fed_emnist_digitsonly",
            ("train", "test"),
        ),
        "sqlite": _EMNIST_SQLITE,
    },
    "shakespeare": {
        "hdf5": _hdf5(
            "shakespeare.tar.bz2",
            "0285be9906cb5f268092eee4edeeacfc2af4574f2941f7cc2f08a321d7f5c707",
            "shakespeare",
            ("train", "test"),
        ),
        "sqlite": _sqlite("shakespeare"),
    },
    "stackoverflow": {
        "hdf5": _hdf5(
            "stackoverflow.tar.bz2",
            "99eca2f8b8327a09e5fc123979df2d237acbc5e52322f6d86bf523ee47b961a2",
            "stackoverflow",
            ("train", "held_out", "test"),
            _STACKOVERFLOW_NOTE,
        ),
        "sqlite": _sqlite("stackoverflow", note=_STACKOVERFLOW_NOTE),
    },
    "cifar100": {
        "hdf5": _hdf5(
            "fed_cifar100.tar.bz2",
            "e8575e22c038ecef1ce6c7d492d7abee7da13b1e1ba9b70a7fc18531ba7590de",
            "fed_cifar100",
            ("train", "test"),
        ),
        "sqlite": _sqlite(
            "cifar100",
            "23d3916c9caa33395737ee560cc7cb77bbd05fc7b73647ee7be3a7e764172939",
            153019920,
            "FedJAX's fedjax/datasets/cifar100.py",
        ),
    },
}


def tff_dir(root: Optional[str] = None) -> str:
    """Where downloaded TFF sets live: `<root>/tff` (root default `$FEDRUN_CACHE_DIR`)."""
    return str(Path(root) / "tff") if root is not None else str(cache_dir() / "tff")


def _extract(archive: str, outputs: tuple[str, ...], directory: str) -> None:
    """Extracts the expected members of a tar archive, each placed atomically."""
    try:
        with tarfile.open(archive) as tar:
            members = {os.path.basename(m.name): m for m in tar.getmembers() if m.isfile()}
            missing = [o for o in outputs if o not in members]
            if missing:
                raise DownloadError(archive, directory, f"the archive lacks {missing}")
            for name in outputs:
                if os.path.exists(os.path.join(directory, name)):
                    continue
                partial = os.path.join(directory, name + ".partial")
                member = tar.extractfile(members[name])
                if member is None:  # a directory or link where a file belongs
                    raise DownloadError(archive, directory, f"{name} in the archive is not a file")
                with member as src, open(partial, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
                os.replace(partial, os.path.join(directory, name))
    except (tarfile.TarError, EOFError, OSError) as err:
        raise DownloadError(archive, directory, f"cannot extract: {err}") from None


def _decompress(compressed: str, output: str) -> None:
    """Decompresses an LZMA file to `output`, placed atomically."""
    partial = output + ".partial"
    try:
        with lzma.open(compressed) as src, open(partial, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    except (lzma.LZMAError, EOFError, OSError) as err:
        raise DownloadError(compressed, output, f"cannot decompress: {err}") from None
    os.replace(partial, output)


def download(
    name: str,
    fmt: Format = "hdf5",
    directory: Optional[str] = None,
    base_url: Optional[str] = None,
    progress: bool = True,
) -> list[str]:
    """Downloads, verifies and unpacks one of TFF's sets; returns its files.

    Args:
        name: A key of `CATALOG`.
        fmt: `hdf5` (checksums pinned) or `sqlite` (TFF 0.87's files).
        directory: Where the files go (default `tff_dir()`).
        base_url: A mirror serving the same file names (default `$FEDRUN_DATA_MIRROR`).
        progress: Show a progress bar.

    Raises:
        KeyError: An unknown name or format.
        DownloadError: A network failure, a checksum mismatch or a bad archive.
    """
    artifact = CATALOG[name][fmt]
    directory = directory if directory is not None else tff_dir()
    outputs = [os.path.join(directory, o) for o in artifact.outputs]
    if all(os.path.exists(o) for o in outputs):
        return outputs
    if artifact.note and progress:
        print(f"fedrun: {artifact.note}", file=sys.stderr)
    downloaded = fetch(
        artifact.remote, os.path.join(directory, "downloads"), base_url, progress=progress
    )
    if downloaded.endswith(".lzma"):
        _decompress(downloaded, outputs[0])
    else:
        _extract(downloaded, artifact.outputs, directory)
    # The compressed file is only a carrier (its checksum record stays beside it).
    os.remove(downloaded)
    return outputs


def locate(
    name: str,
    fmt: Format,
    path: Optional[str],
    files: list[str],
    fetch_missing: bool,
    search: list[str],
) -> str:
    """The directory a source reads `files` from, downloading them if asked.

    Args:
        name: The set's `CATALOG` key.
        fmt: Its format.
        path: The configured `dataset.path` (used as is when set).
        files: The files the source needs there.
        fetch_missing: `dataset.download`: download into `path` (or `tff_dir()`)
            when the files are missing.
        search: Directories tried before `tff_dir()` when `path` is null.

    Raises:
        DataError: The download failed.
    """
    candidates = [os.path.expanduser(path)] if path is not None else [*search, tff_dir()]
    for directory in candidates:
        if all(os.path.exists(os.path.join(directory, f)) for f in files):
            return directory
    target = candidates[-1]
    if fetch_missing:
        try:
            download(name, fmt, target)
        except DownloadError as err:
            raise DataError(err.path, f"dataset.download: {err.url}: {err.problem}") from None
    return target
