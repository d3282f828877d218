"""TFF's `tff.simulation.datasets.shakespeare.load_data` over fedrun's Shakespeare
source (`fedrun.data.sources.shakespeare`).

TFF downloads the data set; fedrun never downloads at run time, so TFF's files
must already be on disk in TFF's HDF5 layout (`examples/<client_id>/snippets`, one
string per speech), named `shakespeare_train.h5` and `shakespeare_test.h5`. Each
client's dataset yields `OrderedDict(snippets=<string>)`, one speech per example,
as TFF's does; clients are read lazily and checked when first read.
"""

from __future__ import annotations

import os
from typing import Optional

from fedrun.compat.tff.errors import FacadeTypeError
from fedrun.compat.tff.simulation.datasets.client_data import ClientData
from fedrun.data.errors import DataError
from fedrun.data.sources.shakespeare import open_snippets_hdf5

FILE_NAMES = ("shakespeare_train.h5", "shakespeare_test.h5")


def load_data(
    cache_dir: Optional[str] = None, path: Optional[str] = None
) -> tuple[ClientData, ClientData]:
    """The Shakespeare train and test `ClientData` (examples `OrderedDict(snippets)`).

    Args:
        cache_dir: Where TFF would have cached the files (default `~/.keras/datasets`).
        path: (fedrun) The directory holding the files (overrides `cache_dir`).
    """
    for name, value in (("cache_dir", cache_dir), ("path", path)):
        if value is not None and not isinstance(value, (str, os.PathLike)):
            raise FacadeTypeError(
                f"shakespeare.load_data: {name} must be a directory path, got {value!r}"
            )
    directory = path or cache_dir or os.path.join(os.path.expanduser("~"), ".keras", "datasets")
    files = [os.path.join(directory, name) for name in FILE_NAMES]
    for file in files:
        if not os.path.exists(file):
            raise DataError(
                file,
                "Shakespeare file not found; fedrun does not download data: copy TFF's HDF5 files "
                f"({', '.join(FILE_NAMES)}) into that directory or pass path=",
            )
    train, test = (
        ClientData.from_fedrun(open_snippets_hdf5(file), {"snippets": "snippets"}) for file in files
    )
    return train, test


__all__ = ["FILE_NAMES", "load_data"]
