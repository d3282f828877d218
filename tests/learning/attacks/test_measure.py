"""Round measurements of an attack (Krum's selections counted) and the backdoor's
success rate."""

import numpy as np
import pytest
import tensorflow as tf

from fedrun.aggregators.robust import KrumFactory
from fedrun.core.placements import AtClients
from fedrun.learning.attacks.config import AttackConfig
from fedrun.learning.attacks.measure import BackdoorEvaluation, find_selected, round_measurements
from fedrun.learning.attacks.runtime import RoundFacts
from fedrun.learning.attacks.updates import attack_updates
from fedrun.models.functional import ModelWeights
from fedrun.runtime.local import VectorizedRuntime
from fedrun.runtime.trainer import LocalRule


def test_find_selected_in_a_nested_tree():
    assert find_selected({"clipping": {"inner": {"krum_score": 1.0, "selected": [3, 1]}}}) == [3, 1]
    assert find_selected({"trimmed_count": 2}) is None


def test_counts_without_a_selecting_aggregator():
    facts = RoundFacts(1, ("a", "b", "c"), np.array([True, False, True]))
    assert round_measurements(facts, {"trimmed_count": 2}) == {"byzantine": 2}


def test_krum_with_f_rejects_f_sign_flip_attackers():
    # Seven honest updates near (1, 1, 1, 1); clients 2 and 5 send -4 x their update.
    rng = np.random.default_rng(0)
    honest = (1.0 + 0.1 * rng.normal(size=(7, 4))).astype(np.float32)
    byzantine = np.array([False, False, True, False, False, True, False])
    sent = attack_updates(
        AttackConfig(kind="sign_flip", scale=4.0),
        [honest],
        byzantine,
        [str(i) for i in range(7)],
        1,
        0,
    )[0]
    process = KrumFactory(byzantine=2, multi=5).create(tf.TensorSpec([4], tf.float32))
    output = process.next(process.initialize(), AtClients(tf.constant(sent), 7))
    selected = output.measurements["selected"].numpy()
    assert not set(selected.tolist()) & {2, 5}
    np.testing.assert_allclose(output.result.value.numpy(), sent[selected].mean(axis=0), rtol=1e-6)
    facts = RoundFacts(1, tuple(str(i) for i in range(7)), byzantine)
    measurements = round_measurements(facts, {"krum_score": 0.0, "selected": selected.tolist()})
    assert measurements == {"byzantine": 2, "byzantine_selected": 0, "byzantine_rejected": 2}


def test_counts_byzantine_clients_krum_selected():
    facts = RoundFacts(1, ("a", "b", "c", "d"), np.array([True, False, True, False]))
    assert round_measurements(facts, {"selected": [0, 1]}) == {
        "byzantine": 2,
        "byzantine_selected": 1,
        "byzantine_rejected": 1,
    }


@pytest.mark.parametrize(
    "target, rate", [(2, 1.0), (0, 0.0)], ids=["model-predicts-target", "model-avoids-target"]
)
def test_backdoor_success_rate_is_the_target_accuracy_on_triggered_images(tiny_model, target, rate):
    trainer = VectorizedRuntime().make_trainer(tiny_model, None, LocalRule())
    # A model that predicts class 2 for every input.
    weights = ModelWeights([tf.zeros([6, 3]), tf.constant([0.0, 0.0, 10.0])], [])
    triggered = {"x": np.ones((7, 6), np.float32), "y": np.full(7, target, np.int32)}
    result = BackdoorEvaluation(trainer, triggered, batch_size=3)(weights)
    assert float(result["attack_success_rate"]) == pytest.approx(rate)
    assert int(result["num_examples"]) == 7
