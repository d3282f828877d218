"""Tiny federated EMNIST files in TFF's HDF5 layout, with a learnable task, for tests."""

from __future__ import annotations

import os

import numpy as np

from tests.data.sources.test_emnist import write_clients


def write_emnist(
    directory: str, num_clients: int = 12, seed: int = 0, only_digits: bool = True
) -> dict[str, dict[str, np.ndarray]]:
    """Writes `fed_emnist[_digitsonly]_{train,test}.h5`; returns the train clients' arrays.

    Pixels are 1.0 (background) with a dark band whose position encodes the label,
    so a linear model can learn the task in a few rounds.
    """
    rng = np.random.default_rng(seed)
    stem = "fed_emnist_digitsonly" if only_digits else "fed_emnist"
    train_clients = {}
    for split, base in (("train", 30), ("test", 6)):
        clients = {}
        for i in range(num_clients):
            n = base + 7 * (i % 4)
            label = rng.integers(0, 10, n).astype(np.int32)
            pixels = np.ones((n, 28, 28), np.float32)
            for j, digit in enumerate(label):
                pixels[j, 2 * digit : 2 * digit + 3, :] = 0.0
            clients[f"f{i:04d}_{i % 3:02d}"] = (
                np.clip(pixels + rng.normal(0, 0.05, pixels.shape), 0, 1).astype(np.float32),
                label,
            )
        write_clients(os.path.join(directory, f"{stem}_{split}.h5"), clients)
        if split == "train":
            train_clients = {
                writer: {"label": label, "pixels": pixels}
                for writer, (pixels, label) in clients.items()
            }
    return train_clients
