"""Data attacks: the Byzantine clients' training examples, poisoned.

`PoisonedClientData` wraps the training `ClientData` when the run is built, so
every runtime (the driver's, and each Ray worker's rebuilt run) trains on the same
poisoned examples; honest clients and the test splits are untouched.

* `label_flip`: every label `y` becomes `label_map[y]` (default `num_classes - 1 - y`).
* `backdoor`: on `round(poison_fraction * n)` of a client's `n` examples (chosen
  from the seed and the client id) a square trigger of `trigger_size` pixels a
  side, value `trigger_value`, is stamped into the image's bottom-right corner and
  the label set to `target_label` (the pixel-pattern backdoor of Gu et al. 2017's
  BadNets, as used against federated learning by Bagdasaryan et al. 2020). The
  attack success rate is the fraction of triggered test images, whose true label
  is not the target, that the global model classifies as the target.
"""

from __future__ import annotations

import math
import zlib
from typing import Optional, Sequence

import numpy as np
import tensorflow as tf

from fedrun.config.errors import ConfigError, join_path
from fedrun.data.client_data import Arrays, ClientData, ClientDataView
from fedrun.learning.attacks.config import AttackConfig

_POISON_STREAM = 0xBAD


def image_shape(feature_shape: Sequence[int]) -> tuple[int, ...]:
    """The `[H, W(, C)]` shape of image features; flat vectors of a square length
    (MNIST's 784) are read as square one-channel images."""
    shape = tuple(int(d) for d in feature_shape)
    if len(shape) == 1 and math.isqrt(shape[0]) ** 2 == shape[0]:
        side = math.isqrt(shape[0])
        return (side, side)
    if len(shape) in (2, 3):
        return shape
    raise ValueError(
        f"a backdoor trigger needs image features ([H, W], [H, W, C] or a square vector), got shape {list(shape)}"
    )


def add_trigger(x: np.ndarray, size: int, value: float) -> np.ndarray:
    """`x` (`[N, *features]`) with the trigger stamped into every example."""
    images = x.reshape(len(x), *image_shape(x.shape[1:])).copy()
    images[:, -size:, -size:, ...] = value
    return images.reshape(x.shape)


def flip_labels(y: np.ndarray, num_classes: int, label_map: Optional[Sequence[int]]) -> np.ndarray:
    """Labels after label flipping."""
    if label_map is None:
        return (num_classes - 1 - y).astype(y.dtype)
    return np.asarray(label_map, dtype=y.dtype)[y]


def poisoned_positions(num_examples: int, fraction: float, seed: int, client_id: str) -> np.ndarray:
    """Which of a backdoor client's examples carry the trigger (sorted positions)."""
    count = int(round(fraction * num_examples))
    rng = np.random.default_rng([seed, zlib.crc32(client_id.encode()), _POISON_STREAM])
    return np.sort(rng.choice(num_examples, size=count, replace=False))


def poison(
    config: AttackConfig, arrays: Arrays, num_classes: int, seed: int, client_id: str
) -> Arrays:
    """One Byzantine client's training examples after the data attack."""
    x, y = arrays["x"], arrays["y"]
    if config.kind == "label_flip":
        return {**arrays, "y": flip_labels(y, num_classes, config.label_map)}
    rows = poisoned_positions(len(y), config.poison_fraction, seed, client_id)
    x, y = x.copy(), y.copy()
    x[rows] = add_trigger(x[rows], config.trigger_size, config.trigger_value)
    y[rows] = config.target_label
    return {**arrays, "x": x, "y": y}


def check_data_attack(
    config: AttackConfig, client_data: ClientData, num_classes: int, path: str = "attack"
) -> None:
    """Refuses a data attack that cannot apply to this data set, naming the key."""
    if config.kind == "label_flip" and config.label_map is not None:
        bad = [v for v in config.label_map if not 0 <= v < num_classes]
        if len(config.label_map) != num_classes or bad:
            raise ConfigError(
                join_path(path, "label_map"),
                f"needs one label in 0..{num_classes - 1} for each of the {num_classes} classes",
                config.label_map,
            )
    if config.kind == "backdoor":
        if config.target_label >= num_classes:
            raise ConfigError(
                join_path(path, "target_label"),
                "no such class",
                config.target_label,
                f"0..{num_classes - 1}",
            )
        spec = client_data.element_spec["x"]
        try:
            shape = image_shape(spec.shape)
        except ValueError as err:
            raise ConfigError(join_path(path, "kind"), str(err), config.kind) from None
        if not spec.dtype.is_floating:
            raise ConfigError(
                join_path(path, "kind"),
                f"a backdoor trigger needs float image features, got {spec.dtype.name}",
                config.kind,
            )
        if config.trigger_size > min(shape[:2]):
            raise ConfigError(
                join_path(path, "trigger_size"),
                "larger than the image",
                config.trigger_size,
                f"1..{min(shape[:2])}",
            )


class PoisonedClientData(ClientDataView):
    """Training data in which the Byzantine clients' examples are poisoned.

    Args:
        inner: The clean training data.
        config: The data attack.
        byzantine: Ids of the Byzantine clients.
        num_classes: Number of label classes.
        seed: The run's seed (which backdoor examples are triggered).
    """

    def __init__(
        self,
        inner: ClientData,
        config: AttackConfig,
        byzantine: frozenset[str],
        num_classes: int,
        seed: int,
    ) -> None:
        super().__init__(inner)
        self._config = config
        self._byzantine = byzantine
        self._num_classes = num_classes
        self._seed = seed

    def arrays_for(self, client_id: str) -> Arrays:
        arrays = self._inner.arrays_for(client_id)
        if client_id not in self._byzantine:
            return arrays
        return poison(self._config, arrays, self._num_classes, self._seed, client_id)

    def cohort_pool(
        self, client_ids: Sequence[str]
    ) -> tuple[dict[str, tf.Tensor], list[np.ndarray]]:
        if self._byzantine.isdisjoint(client_ids):  # the inner source's own (shared, uncopied) pool
            return self._inner.cohort_pool(client_ids)
        return super().cohort_pool(client_ids)


def triggered_test_set(config: AttackConfig, arrays: Arrays) -> Arrays:
    """Test examples whose true label is not the target, triggered and labelled with
    the target: their accuracy is the backdoor's attack success rate."""
    keep = arrays["y"] != config.target_label
    x = add_trigger(arrays["x"][keep], config.trigger_size, config.trigger_value)
    return {"x": x, "y": np.full(int(keep.sum()), config.target_label, arrays["y"].dtype)}
