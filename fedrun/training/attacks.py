"""The loop's side of an attack: its measurements in each round's record.

`AttackCallback` runs before the loggers and adds `client_work.attack` (see
`fedrun.learning.attacks.measure`) to the round's record; `AttackEvaluator` adds
`eval.backdoor.attack_success_rate` whenever the global model is evaluated.
"""

from __future__ import annotations

from typing import Any, Callable

from fedrun.learning.attacks import AttackedRuntime, round_measurements
from fedrun.training.callbacks import Callback, Record
from fedrun.training.metrics import to_python


class AttackCallback(Callback):
    """Adds the round's attack measurements to its record (put it first).

    Args:
        runtime: The attacked runtime the learning algorithm trains with.
    """

    def __init__(self, runtime: AttackedRuntime) -> None:
        self._runtime = runtime

    def on_round_end(self, record: Record) -> None:
        facts = self._runtime.last_round
        if facts is None or facts.round_num != record["round"]:
            return
        measurements = round_measurements(facts, record.get("aggregator", {}))
        record["client_work"] = {**record.get("client_work", {}), "attack": measurements}


class AttackEvaluator:
    """An evaluator whose results also hold the backdoor's success rate (`backdoor`).

    Args:
        inner: The run's evaluator (weights -> results).
        backdoor: Weights -> `{attack_success_rate, num_examples}`.
    """

    def __init__(
        self, inner: Callable[[Any], dict[str, Any]], backdoor: Callable[[Any], Any]
    ) -> None:
        self._inner = inner
        self._backdoor = backdoor

    def __call__(self, weights: Any) -> dict[str, Any]:
        return {**self._inner(weights), "backdoor": to_python(self._backdoor(weights))}
