"""`mnist`: the 70,000 MNIST digits from local IDX or NPZ files, split into clients.

Two layouts are read, whichever `dataset.path` names (or the first found of the
default locations):

* a directory holding the four IDX files `train-images-idx3-ubyte`,
  `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte`
  (each gzipped or plain, as LeCun's site and Keras' cache hold them);
* Keras' `mnist.npz` (`x_train`, `y_train`, `x_test`, `y_test`).

Train and test images are joined, then split by `dataset.partition` like every
centralized source (a random `central_test_size` examples held out first).
Fashion-MNIST shares this layout (`fedrun.data.sources.fashion_mnist`).
"""

from __future__ import annotations

import dataclasses
import os
import zipfile
from typing import Optional, Sequence

import numpy as np

from fedrun.config.params import bounded
from fedrun.data.cache import fingerprint_files
from fedrun.data.centralized import SplitParams, federate
from fedrun.data.client_data import FederatedData
from fedrun.data.errors import DataError
from fedrun.data.idx import find_file, read_idx
from fedrun.data.registry import DATASETS, DataContext
from fedrun.data.validate import check_labels

IMAGE_SHAPE = (28, 28)
NUM_CLASSES = 10
_IDX_STEMS = {
    "train_images": ("train-images-idx3-ubyte", "train-images.idx3-ubyte"),
    "train_labels": ("train-labels-idx1-ubyte", "train-labels.idx1-ubyte"),
    "test_images": ("t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"),
    "test_labels": ("t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"),
}
HOW_TO_GET = (
    "put Keras' mnist.npz or the four MNIST IDX files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
    "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz) there, or set dataset.path to where they are"
)


def keras_datasets_dir() -> str:
    """Keras' download cache (`$KERAS_HOME/datasets`, default `~/.keras/datasets`)."""
    return os.path.join(
        os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras"), "datasets"
    )


@dataclasses.dataclass(frozen=True)
class ImageSetParams(SplitParams):
    """`SplitParams` plus where the files are (null: the default locations)."""

    path: Optional[str] = None
    num_clients: int = bounded(100, ge=1)
    central_test_size: int = bounded(10000, ge=0)


def _check_images(path: str, images: np.ndarray) -> None:
    if images.ndim != 3 or images.shape[1:] != IMAGE_SHAPE or images.dtype != np.uint8:
        raise DataError(
            path, f"expected uint8 images [n, 28, 28], got {images.dtype} {list(images.shape)}"
        )


def _check_pair(
    images_path: str, labels_path: str, images: np.ndarray, labels: np.ndarray, num_classes: int
) -> None:
    _check_images(images_path, images)
    if labels.ndim != 1:
        raise DataError(labels_path, f"expected labels [n], got shape {list(labels.shape)}")
    if len(labels) != len(images):
        raise DataError(
            labels_path, f"{len(labels)} labels for the {len(images)} images of {images_path}"
        )
    check_labels(labels_path, labels, num_classes)


def load_idx_directory(
    directory: str, num_classes: int = NUM_CLASSES
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Train + test images (uint8 `[N, 28, 28]`), labels (int32 `[N]`) and the files read."""
    files = {}
    for role, stems in _IDX_STEMS.items():
        found = find_file(directory, stems)
        if found is None:
            raise DataError(os.path.join(directory, f"{stems[0]}[.gz]"), "file not found")
        files[role] = found
    arrays = {role: read_idx(path) for role, path in files.items()}
    for split in ("train", "test"):
        images, labels = f"{split}_images", f"{split}_labels"
        _check_pair(files[images], files[labels], arrays[images], arrays[labels], num_classes)
    x = np.concatenate([arrays["train_images"], arrays["test_images"]])
    y = np.concatenate([arrays["train_labels"], arrays["test_labels"]]).astype(np.int32)
    return x, y, list(files.values())


def load_npz(path: str, num_classes: int = NUM_CLASSES) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels of a Keras-layout `.npz` (train and test joined)."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            missing = {"x_train", "y_train", "x_test", "y_test"} - set(stored.files)
            if missing:
                raise DataError(
                    path, f"missing arrays {sorted(missing)} (expected Keras' mnist.npz layout)"
                )
            parts = {name: stored[name] for name in ("x_train", "y_train", "x_test", "y_test")}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise DataError(path, f"cannot read as .npz: {err}") from None
    for split in ("train", "test"):
        _check_pair(path, path, parts[f"x_{split}"], parts[f"y_{split}"], num_classes)
    return np.concatenate([parts["x_train"], parts["x_test"]]), np.concatenate(
        [parts["y_train"], parts["y_test"]]
    ).astype(np.int32)


def load_images(path: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Images and labels from an IDX directory or an `.npz` file, and the files read."""
    if os.path.isdir(path):
        return load_idx_directory(path)
    if not os.path.exists(path):
        raise DataError(path, f"not found; {HOW_TO_GET}")
    x, y = load_npz(path)
    return x, y, [path]


def locate(configured: Optional[str], candidates: Sequence[str], how_to_get: str) -> str:
    """`configured` if set, else the first existing candidate, else a DataError naming them all."""
    if configured is not None:
        path = os.path.expanduser(configured)
        if not os.path.exists(path):
            raise DataError(path, f"not found; {how_to_get}")
        return path
    for candidate in candidates:
        if os.path.exists(candidate):
            return candidate
    raise DataError(
        " or ".join(candidates), f"no data found at the default locations; {how_to_get}"
    )


def federate_images(
    name: str,
    x: np.ndarray,
    y: np.ndarray,
    files: list[str],
    p: ImageSetParams,
    context: DataContext,
    path: str,
) -> FederatedData:
    """Scales uint8 images to [0, 1] float32 and splits them into clients."""
    scaled = x.astype(np.float32)
    scaled *= np.float32(1 / 255)
    return federate(
        name, scaled, y, NUM_CLASSES, p, context.seed, path, fingerprint=fingerprint_files(files)
    )


@DATASETS.register("mnist", ImageSetParams)
def build(p: ImageSetParams, context: DataContext, config_path: str = "dataset") -> FederatedData:
    """MNIST (70,000 digits) from local files, split into clients by a partitioner."""
    keras_dir = keras_datasets_dir()
    path = locate(
        p.path, [os.path.join(keras_dir, "mnist.npz"), os.path.join(keras_dir, "mnist")], HOW_TO_GET
    )
    x, y, files = load_images(path)
    return federate_images("mnist", x, y, files, p, context, config_path)
