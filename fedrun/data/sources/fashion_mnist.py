"""`fashion_mnist`: Zalando's 70,000 clothing images, split into clients.

Read from the four gzipped IDX files that Debian's `dataset-fashion-mnist`
package installs in `/usr/share/datasets/fashion-mnist/` (the layout of the
original release and of Keras' cache `~/.keras/datasets/fashion-mnist/`), or from
the directory `dataset.path` names. Labels: 0 T-shirt/top, 1 trouser, 2 pullover,
3 dress, 4 coat, 5 sandal, 6 shirt, 7 sneaker, 8 bag, 9 ankle boot.
"""

from __future__ import annotations

import os

from fedrun.data.client_data import FederatedData
from fedrun.data.errors import DataError
from fedrun.data.registry import DATASETS, DataContext
from fedrun.data.sources.mnist import (
    ImageSetParams,
    federate_images,
    keras_datasets_dir,
    load_idx_directory,
    locate,
)

DEBIAN_DIR = "/usr/share/datasets/fashion-mnist"
HOW_TO_GET = (
    "install it with `apt-get install dataset-fashion-mnist` (files land in /usr/share/datasets/fashion-mnist), "
    "or put the four Fashion-MNIST IDX files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
    "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz) in a directory and set dataset.path to it"
)


@DATASETS.register("fashion_mnist", ImageSetParams)
def build(p: ImageSetParams, context: DataContext, config_path: str = "dataset") -> FederatedData:
    """Fashion-MNIST (70,000 images) from local IDX files, split into clients by a partitioner."""
    directory = locate(
        p.path, [DEBIAN_DIR, os.path.join(keras_datasets_dir(), "fashion-mnist")], HOW_TO_GET
    )
    if not os.path.isdir(directory):
        raise DataError(directory, f"expected a directory holding the IDX files; {HOW_TO_GET}")
    x, y, files = load_idx_directory(directory)
    return federate_images("fashion_mnist", x, y, files, p, context, config_path)
