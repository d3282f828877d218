"""Tiny federated EMNIST files in TFF's HDF5 layout, for tests."""

from __future__ import annotations

import os

import h5py
import numpy as np


def write_emnist(directory: str, num_clients: int = 12, seed: int = 0, only_digits: bool = True) -> dict[str, dict[str, np.ndarray]]:
    """Writes `fed_emnist[_digitsonly]_{train,test}.h5`; returns the train clients' arrays.

    Pixels are 1.0 (background) with a dark band whose position encodes the label,
    so a linear model can learn the task in a few rounds.
    """
    rng = np.random.default_rng(seed)
    stem = "fed_emnist_digitsonly" if only_digits else "fed_emnist"
    train_clients = {}
    for split, base in (("train", 30), ("test", 6)):
        with h5py.File(os.path.join(directory, f"{stem}_{split}.h5"), "w") as f:
            examples = f.create_group("examples")
            for i in range(num_clients):
                n = base + 7 * (i % 4)
                label = rng.integers(0, 10, n).astype(np.int32)
                pixels = np.ones((n, 28, 28), np.float32)
                for j, digit in enumerate(label):
                    pixels[j, 2 * digit : 2 * digit + 3, :] = 0.0
                pixels = np.clip(pixels + rng.normal(0, 0.05, pixels.shape), 0, 1).astype(np.float32)
                client = examples.create_group(f"f{i:04d}_{i % 3:02d}")
                client.create_dataset("label", data=label)
                client.create_dataset("pixels", data=pixels)
                if split == "train":
                    train_clients[client.name.split("/")[-1]] = {"label": label, "pixels": pixels}
    return train_clients
