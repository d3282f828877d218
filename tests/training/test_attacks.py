"""The loop's side of an attack: measurements added to the record, the backdoor's
success rate added to the evaluation."""

import numpy as np

from fedrun.learning.attacks.config import AttackConfig
from fedrun.learning.attacks.runtime import AttackedRuntime, RoundFacts
from fedrun.runtime.local import SequentialRuntime
from fedrun.training.attacks import AttackCallback, AttackEvaluator


def runtime_with(facts):
    runtime = AttackedRuntime(SequentialRuntime(), AttackConfig(), frozenset())
    runtime.last_round = facts
    return runtime


def test_callback_adds_attack_measurements_of_the_same_round():
    facts = RoundFacts(3, ("a", "b", "c"), np.array([False, True, True]))
    record = {"round": 3, "client_work": {"training_failed": 0}, "aggregator": {"selected": [1]}}
    AttackCallback(runtime_with(facts)).on_round_end(record)
    assert record["client_work"] == {
        "training_failed": 0,
        "attack": {"byzantine": 2, "byzantine_selected": 1, "byzantine_rejected": 1},
    }


def test_callback_ignores_a_round_it_has_no_facts_for():
    record = {"round": 4, "aggregator": {}}
    AttackCallback(runtime_with(RoundFacts(3, ("a",), np.array([True])))).on_round_end(record)
    AttackCallback(runtime_with(None)).on_round_end(record)
    assert "client_work" not in record


def test_evaluator_adds_the_backdoor_results():
    evaluator = AttackEvaluator(
        lambda w: {"centralized": {"accuracy": w}},
        lambda w: {"attack_success_rate": np.float32(w / 2)},
    )
    assert evaluator(0.5) == {
        "centralized": {"accuracy": 0.5},
        "backdoor": {"attack_success_rate": 0.25},
    }
