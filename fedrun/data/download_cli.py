"""`fedrun-data download NAME`: fetch one of TFF's federated sets into the cache.

    fedrun-data download emnist_digits                  # HDF5 files, SHA-256 pinned
    fedrun-data download shakespeare --format sqlite    # TFF 0.87's SQLite file
    fedrun-data download cifar100 --cache-dir /data/fedrun

Files land in `<cache dir>/tff/` (cache dir: `--cache-dir`, else
`$FEDRUN_CACHE_DIR`, else `~/.cache/fedrun`), where the sources look for them
when `dataset.path` is null. `--base-url` (or `$FEDRUN_DATA_MIRROR`) fetches the
same file names from a mirror.
"""

from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from fedrun.data.download import MIRROR_ENV, DownloadError
from fedrun.data.tff_downloads import CATALOG, download, tff_dir

EXIT_FAILED = 1
FORMAT_OPTION = {"hdf5": "tff_hdf5", "sqlite": "tff_sqlite"}
TRAINABLE = ("emnist", "emnist_digits", "shakespeare", "cifar100")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="fedrun-data download",
        description="Download one of TFF's federated data sets into fedrun's cache.",
    )
    p.add_argument("name", choices=sorted(CATALOG), help="the data set (as in dataset=NAME)")
    p.add_argument(
        "--format",
        choices=sorted(FORMAT_OPTION),
        default="hdf5",
        help="hdf5 (checksums pinned, default) or sqlite (TFF 0.87's files)",
    )
    p.add_argument(
        "--cache-dir",
        default=None,
        help="cache root (default $FEDRUN_CACHE_DIR, else ~/.cache/fedrun)",
    )
    p.add_argument(
        "--base-url",
        default=None,
        help=f"a mirror serving the same file names (default ${MIRROR_ENV})",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs the command; returns its exit status."""
    args = parser().parse_args(argv)
    directory = tff_dir(args.cache_dir)
    try:
        files = download(args.name, args.format, directory, args.base_url, progress=not args.quiet)
    except DownloadError as err:
        print(f"fedrun-data: download error: {err}", file=sys.stderr)
        return EXIT_FAILED
    for file in files:
        print(file)
    command = run_command(args.name, args.format, directory if args.cache_dir is not None else None)
    print(
        f"Train on it with: {command}"
        if command
        else f"(fedrun has no training source for {args.name} yet)"
    )
    return 0


def run_command(name: str, fmt: str, path: Optional[str]) -> Optional[str]:
    """The `fedrun` command that trains on a downloaded set, for the sources that read it."""
    if name not in TRAINABLE:
        return None
    parts = [f"fedrun dataset={name}"]
    if (
        fmt == "sqlite" or name == "shakespeare"
    ):  # shakespeare's default format is the installed plays
        parts.append(f"dataset.format={FORMAT_OPTION[fmt]}")
    if path is not None:
        parts.append(f"dataset.path={path}")
    return " ".join(parts)
