"""What an attack did in a round, and the backdoor's success on triggered test images.

Round measurements (under `client_work.attack` in the round record):

* `byzantine`: Byzantine clients among those whose updates reached the aggregator.
* `byzantine_selected`, `byzantine_rejected`: where the aggregator selects clients
  (Krum reports the cohort positions it chose as `selected`), how many of those
  Byzantine clients it chose and how many it left out.
"""

from __future__ import annotations

import collections
from typing import Any, Mapping, Optional

import numpy as np

from fedrun.config.errors import ConfigError
from fedrun.data.client_data import Arrays
from fedrun.data.cohort import arrays_cohort
from fedrun.learning.attacks.runtime import RoundFacts
from fedrun.learning.evaluation import evaluate_centralized
from fedrun.runtime.protocol import Trainer


def find_selected(measurements: Any) -> Optional[list[int]]:
    """The first `selected` list of client positions in a (plain) measurement tree."""
    if not isinstance(measurements, Mapping):
        return None
    if isinstance(measurements.get("selected"), list):
        return [int(i) for i in measurements["selected"]]
    for value in measurements.values():
        found = find_selected(value)
        if found is not None:
            return found
    return None


def round_measurements(facts: RoundFacts, aggregator: Mapping[str, Any]) -> dict[str, int]:
    """A round's attack measurements from its facts and the aggregator's (plain) measurements."""
    out = {"byzantine": int(facts.byzantine.sum())}
    selected = find_selected(aggregator)
    if selected is not None:
        chosen = np.zeros(len(facts.byzantine), bool)
        chosen[selected] = True
        out["byzantine_selected"] = int((chosen & facts.byzantine).sum())
        out["byzantine_rejected"] = int((~chosen & facts.byzantine).sum())
    return out


class BackdoorEvaluation:
    """The attack success rate of the global model on triggered test images.

    Args:
        trainer: A trainer of the model (its compiled evaluation is reused).
        triggered: Triggered test images labelled with the target
            (`fedrun.learning.attacks.data.triggered_test_set`).
        batch_size: Evaluation batch size.

    Returns (when called with weights): `{attack_success_rate, num_examples}`.
    """

    def __init__(self, trainer: Trainer, triggered: Arrays, batch_size: int) -> None:
        if "accuracy" not in trainer.model.metric_names:
            raise ConfigError(
                "attack.kind",
                "a backdoor's success rate needs a model with an `accuracy` metric",
                "backdoor",
            )
        self._trainer = trainer
        self._cohort = arrays_cohort(triggered, batch_size, name="backdoor")

    def __call__(self, weights: Any) -> collections.OrderedDict[str, Any]:
        metrics = evaluate_centralized(self._trainer, weights, self._cohort)
        return collections.OrderedDict(
            attack_success_rate=metrics["accuracy"], num_examples=metrics["num_examples"]
        )
