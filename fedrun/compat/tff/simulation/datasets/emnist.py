"""TFF's `tff.simulation.datasets.emnist.load_data` over fedrun's EMNIST source
(`fedrun.data.sources.emnist`).

TFF downloads federated EMNIST; fedrun never downloads at run time, so the files
must already be on disk in TFF's layout (`examples/<client_id>/{label, pixels}`),
named `fed_emnist_digitsonly_{train,test}.h5` (digits only) or
`fed_emnist_{train,test}.h5`. Clients are read lazily and checked when first read
(shapes, pixel range, NaNs, labels), as fedrun's `emnist` data sets are.
"""

from __future__ import annotations

import os
from typing import Optional

from fedrun.compat.tff.simulation.datasets.client_data import ClientData
from fedrun.data.errors import DataError
from fedrun.data.sources.emnist import open_emnist_file

KEY_NAMES = {"y": "label", "x": "pixels"}  # fedrun's example keys -> TFF's, in TFF's order


def file_names(only_digits: bool) -> tuple[str, str]:
    """TFF's train and test file names."""
    stem = "fed_emnist_digitsonly" if only_digits else "fed_emnist"
    return f"{stem}_train.h5", f"{stem}_test.h5"


def load_data(
    only_digits: bool = True, cache_dir: Optional[str] = None, path: Optional[str] = None
) -> tuple[ClientData, ClientData]:
    """The federated EMNIST train and test `ClientData` (examples `OrderedDict(label, pixels)`).

    Args:
        only_digits: The 10-class digits-only version (TFF's default), else 62 classes.
        cache_dir: Where TFF would have cached the files (default `~/.keras/datasets`).
        path: (fedrun) The directory holding the files (overrides `cache_dir`).
    """
    directory = path or cache_dir or os.path.join(os.path.expanduser("~"), ".keras", "datasets")
    train_name, test_name = file_names(only_digits)
    train_path, test_path = (os.path.join(directory, name) for name in (train_name, test_name))
    for file in (train_path, test_path):
        if not os.path.exists(file):
            raise DataError(
                file,
                "federated EMNIST file not found; fedrun does not download data: copy TFF's HDF5 files "
                f"({train_name}, {test_name}) into that directory or pass path=",
            )
    num_classes = 10 if only_digits else 62
    train, test = (
        ClientData.from_fedrun(open_emnist_file(file, num_classes), KEY_NAMES)
        for file in (train_path, test_path)
    )
    return train, test


__all__ = ["file_names", "load_data"]
