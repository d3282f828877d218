"""Rounds to reach a target accuracy: McMahan et al. 2017's measure of how much
communication an algorithm needs (their Table 2).

Config (top-level keys):

    target_accuracy: 0.97    # null: off
    stop_at_target: false    # true: end the run at the round that reaches it

The accuracy compared is the evaluation's: the centralized test set's when the
round evaluated one, else the federated evaluation's. Rounds are only known to
`eval_every`'s resolution: the first evaluated round at or above the target.
`summary.json` gets `target_accuracy`, `target_metric` (the accuracy's dotted
path in the round record) and `rounds_to_target` (null if never reached).
"""

from __future__ import annotations

from typing import Any, Optional

from fedrun.training.callbacks import Callback, Record

# Which evaluation's accuracy counts, in order of preference.
EVALUATIONS = ("centralized", "federated")


def evaluation_accuracy(record: Record) -> Optional[tuple[str, float]]:
    """The dotted name and value of the round's evaluation accuracy (None if the
    round did not evaluate)."""
    evaluation = record.get("eval", {})
    for kind in EVALUATIONS:
        accuracy = evaluation.get(kind, {}).get("accuracy")
        if accuracy is not None:
            return f"eval.{kind}.accuracy", float(accuracy)
    return None


class TargetAccuracyCallback(Callback):
    """Records the first round whose evaluation accuracy reaches `target`.

    Args:
        target: The accuracy to reach, in (0, 1].
        stop: Set `stop_training` once it is reached (the loop then ends the run).

    Attributes:
        round_reached: The first round at or above the target (None so far).
        metric: The dotted name of the accuracy compared (None before the first
            evaluated round).
    """

    def __init__(self, target: float, stop: bool = False) -> None:
        self.target = float(target)
        self.stop = stop
        self.round_reached: Optional[int] = None
        self.metric: Optional[str] = None

    def on_round_end(self, record: Record) -> None:
        found = evaluation_accuracy(record)
        if found is None or self.round_reached is not None:
            return
        self.metric, accuracy = found
        if accuracy >= self.target:
            self.round_reached = int(record["round"])
            self.stop_training = self.stop

    def summary(self) -> dict[str, Any]:
        """`{target_accuracy, target_metric, rounds_to_target}` for `summary.json`."""
        return {
            "target_accuracy": self.target,
            "target_metric": self.metric,
            "rounds_to_target": self.round_reached,
        }


__all__ = ["TargetAccuracyCallback", "evaluation_accuracy"]
