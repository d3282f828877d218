"""The `attack:` block: which clients are Byzantine and what they do.

    attack:
      kind: sign_flip        # label_flip | backdoor | sign_flip | scaling | gaussian | alie | ipm
      fraction: 0.2          # of ALL clients, chosen once from the seed
      clients: null          # or an explicit list of client ids (instead of fraction)

Each kind reads the keys beside it that concern it (the others keep their defaults):

| kind | acts on | keys |
| --- | --- | --- |
| `label_flip` | the client's training labels | `label_map` (null: `y -> num_classes - 1 - y`) |
| `backdoor` | a fraction of the client's training examples | `target_label`, `poison_fraction`, `trigger_size`, `trigger_value` |
| `sign_flip` | the update it sends | `scale` (`-scale * update`; null: 1) |
| `scaling` | the update it sends | `scale` (`scale * update`; null: the cohort size, model replacement) |
| `gaussian` | the update it sends | `std` (sends `N(0, std^2)` noise instead of its update) |
| `alie` | the update it sends (colluding) | `z` (null: Baruch et al.'s `z_max` for the cohort) |
| `ipm` | the update it sends (colluding) | `epsilon` (sends `-epsilon * mean` of the honest updates) |
"""

from __future__ import annotations

import dataclasses
from typing import Literal, Optional

from fedrun.config.params import bounded

AttackKind = Literal["label_flip", "backdoor", "sign_flip", "scaling", "gaussian", "alie", "ipm"]
DATA_KINDS = ("label_flip", "backdoor")
COLLUDING_KINDS = ("alie", "ipm")


@dataclasses.dataclass(frozen=True)
class AttackConfig:
    """The `attack:` block (null: every client is honest).

    Attributes:
        kind: What the Byzantine clients do (see the module docstring).
        fraction: Fraction of all clients that are Byzantine, drawn once from the
            seed (`round(fraction * num_clients)` of them); ignored if `clients` is set.
        clients: The Byzantine clients by id, instead of a fraction.
        scale: `sign_flip`'s k in `-k * update`; `scaling`'s factor (null: the
            defaults in the module docstring).
        std: `gaussian`'s noise standard deviation.
        z: `alie`'s number of standard deviations below the mean (null: z_max).
        epsilon: `ipm`'s factor on the honest mean.
        label_map: `label_flip`'s fixed mapping, entry `y` is the new label of
            label `y` (null: `num_classes - 1 - y`).
        target_label: `backdoor`'s label for triggered examples.
        poison_fraction: `backdoor`'s fraction of each Byzantine client's
            training examples that get the trigger and the target label.
        trigger_size: `backdoor`'s trigger: a square of this many pixels a side
            in the image's bottom-right corner.
        trigger_value: `backdoor`'s pixel value of the trigger.
    """

    kind: AttackKind = "sign_flip"
    fraction: float = bounded(0.0, ge=0.0, lt=1.0)
    clients: Optional[list[str]] = None
    scale: Optional[float] = bounded(None, gt=0.0)
    std: float = bounded(1.0, gt=0.0)
    z: Optional[float] = None
    epsilon: float = bounded(0.1, gt=0.0)
    label_map: Optional[list[int]] = None
    target_label: int = bounded(0, ge=0)
    poison_fraction: float = bounded(0.5, gt=0.0, le=1.0)
    trigger_size: int = bounded(3, ge=1)
    trigger_value: float = 1.0

    def __post_init__(self) -> None:
        if self.clients is not None and self.fraction > 0:
            raise ValueError("set either fraction or clients, not both")
        if self.clients is not None and len(set(self.clients)) != len(self.clients):
            raise ValueError(f"clients lists a client twice: {self.clients}")

    @property
    def on_data(self) -> bool:
        """Whether the attack poisons the Byzantine clients' training data."""
        return self.kind in DATA_KINDS

    @property
    def on_updates(self) -> bool:
        """Whether the attack replaces the updates Byzantine clients send."""
        return not self.on_data
