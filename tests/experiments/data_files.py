"""Tiny data files in the real layouts, for experiments whose data is not on this machine.

The experiment configs name a data set and (for real runs) its default location;
tests point `dataset.path` here instead. Sizes are about the smallest the
experiments' splits accept: MNIST's 10,000 held-out images plus 1,000 clients of
about 30 under Dirichlet label skew; 100 EMNIST writers for cohorts of 100.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fedrun.data.idx import write_idx
from tests.data.sources.test_emnist import write_emnist

IDX_TRAIN, IDX_TEST = (
    39_700,
    300,
)  # 40,000 images: 10,000 held out, the rest for up to 1,000 clients
EMNIST_WRITERS = 110  # cohorts of 100 writers need that many
PLAY_ROLES, SPEECHES_PER_ROLE = 12, 4  # cohorts of 10 roles, each with train and test speeches


def write_idx_images(directory: Path) -> Path:
    """The four MNIST / Fashion-MNIST IDX files (plain, uncompressed) with random images."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for split, count in (("train", IDX_TRAIN), ("t10k", IDX_TEST)):
        write_idx(
            str(directory / f"{split}-images-idx3-ubyte"),
            rng.integers(0, 256, size=(count, 28, 28), dtype=np.uint8),
        )
        write_idx(
            str(directory / f"{split}-labels-idx1-ubyte"), (np.arange(count) % 10).astype(np.uint8)
        )
    return directory


def write_emnist_files(directory: Path) -> Path:
    """TFF's EMNIST files, both the 62-class and the digits-only names, 2 examples a writer."""
    directory.mkdir(parents=True, exist_ok=True)
    writers = {f"f{k:04d}_00": 2 for k in range(EMNIST_WRITERS)}
    for prefix, classes in (("fed_emnist", 62), ("fed_emnist_digitsonly", 10)):
        write_emnist(directory / f"{prefix}_train.h5", writers, num_classes=classes)
        write_emnist(directory / f"{prefix}_test.h5", writers, num_classes=classes)
    return directory


def write_plays(directory: Path) -> Path:
    """One play in the installed plays' layout: a speaker's name alone on a line, then the speech."""
    directory.mkdir(parents=True, exist_ok=True)
    speeches = []
    for turn in range(SPEECHES_PER_ROLE):
        for role in range(PLAY_ROLES):
            speeches.append(
                f"SPEAKER{chr(ord('A') + role)}.\nThis is speech {turn} of a role that speaks often enough to train.\n"
            )
    (directory / "tiny_gut.txt").write_text("A TINY PLAY\n\nACT I.\n\n" + "\n".join(speeches))
    return directory
