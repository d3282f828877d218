"""The attacked runtime: the same attacked updates from every runtime, what it
records of each round, and client-side steps after the attack."""

import collections

import numpy as np
import pytest
import tensorflow as tf

from fedrun.learning.attacks.config import AttackConfig
from fedrun.learning.attacks.runtime import AttackedRuntime, AttackedStepRuntime, attacked_runtime
from fedrun.learning.attacks.updates import attack_updates
from fedrun.optimizers import SGD
from fedrun.runtime.base import Runtime
from fedrun.runtime.client_steps import ClientStep
from fedrun.runtime.local import SequentialRuntime, VectorizedRuntime
from fedrun.runtime.trainer import ClientOutputs, LocalRule, no_inputs

BYZANTINE = frozenset({"b"})
ATTACKS = [
    AttackConfig(kind="sign_flip", scale=2.0),
    AttackConfig(kind="gaussian", std=0.5),
    AttackConfig(kind="alie", z=1.0),
    AttackConfig(kind="ipm", epsilon=0.5),
]
ATTACK_IDS = ["sign-flip", "gaussian", "alie", "ipm"]


def train(runtime, model, cohort, weights):
    trainer = runtime.make_trainer(model, SGD(0.1), LocalRule())
    return runtime.train(trainer, weights, cohort, no_inputs(0.1, cohort.num_clients))


@pytest.fixture(scope="module")
def honest(tiny_model, tiny_problem):
    cohort = tiny_problem.cohort(["a", "b", "c"], epochs=2, batch=2)
    return cohort, [
        u.numpy()
        for u in train(SequentialRuntime(), tiny_model, cohort, tiny_problem.weights()).update
    ]


@pytest.mark.parametrize("config", ATTACKS, ids=ATTACK_IDS)
def test_sequential_and_vectorized_send_the_same_attacked_updates(
    config, tiny_model, tiny_problem, honest
):
    cohort, honest_update = honest
    expected = attack_updates(
        config,
        honest_update,
        np.array([False, True, False]),
        cohort.client_ids,
        cohort.round_num,
        cohort.seed,
    )
    for inner in (SequentialRuntime(), VectorizedRuntime()):
        runtime = AttackedRuntime(inner, config, BYZANTINE)
        update = [
            u.numpy() for u in train(runtime, tiny_model, cohort, tiny_problem.weights()).update
        ]
        for got, want, clean in zip(update, expected, honest_update):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(got[[0, 2]], clean[[0, 2]], rtol=1e-5, atol=1e-6)
        assert not np.allclose(update[0][1], honest_update[0][1])


def test_a_data_attack_leaves_updates_alone(tiny_model, tiny_problem, honest):
    cohort, honest_update = honest
    runtime = AttackedRuntime(SequentialRuntime(), AttackConfig(kind="label_flip"), BYZANTINE)
    update = train(runtime, tiny_model, cohort, tiny_problem.weights()).update
    np.testing.assert_allclose(update[0].numpy(), honest_update[0], rtol=1e-6)


class FixedRuntime(Runtime):
    """Returns the given updates whatever it is asked to train; loses `lost` clients."""

    def __init__(self, update, lost=frozenset()):
        self.update, self.lost = update, lost

    def train(self, trainer, weights, cohort, inputs):
        count = cohort.num_clients
        metrics = collections.OrderedDict(num_examples=[tf.ones([count], tf.int64)])
        return ClientOutputs(
            [tf.constant(self.update)], tf.ones([count]), metrics, tf.ones([count], tf.int32), ()
        )

    def evaluate(self, trainer, weights, cohort):
        raise NotImplementedError

    def take_lost_clients(self):
        return self.lost


def test_round_facts_leave_out_non_finite_and_lost_clients(tiny_problem):
    cohort = tiny_problem.cohort(["a", "b", "c"], epochs=1, batch=2, round_num=4)
    update = np.array([[1.0], [np.nan], [2.0]], np.float32)
    runtime = AttackedRuntime(
        FixedRuntime(update), AttackConfig(kind="sign_flip"), frozenset({"b", "c"})
    )
    runtime.train(None, None, cohort, None)
    facts = runtime.last_round
    assert facts.round_num == 4 and facts.client_ids == ("a", "c")
    np.testing.assert_array_equal(facts.byzantine, [False, True])
    lossy = AttackedRuntime(
        FixedRuntime(np.zeros_like(update), lost=frozenset({"a"})),
        AttackConfig(kind="sign_flip"),
        frozenset({"c"}),
    )
    lossy.train(None, None, cohort, None)
    assert lossy.take_lost_clients() == {"a"}
    assert lossy.last_round.client_ids == ("b", "c")
    np.testing.assert_array_equal(lossy.last_round.byzantine, [False, True])


class RecordingStep(ClientStep):
    def __init__(self):
        self.seen = []

    def apply(self, outputs, context):
        self.seen.append((np.array(outputs.update[0]), context.positions))
        return outputs._replace(update=[u + 100.0 for u in outputs.update])


class StepRuntime(FixedRuntime):
    def add_client_step(self, step):
        raise AssertionError("the attacked runtime keeps the steps itself")


def test_client_steps_run_after_the_attack_on_the_whole_cohort(tiny_problem):
    cohort = tiny_problem.cohort(["a", "b", "c"], epochs=1, batch=2)
    update = np.array([[1.0], [2.0], [3.0]], np.float32)
    assert (
        type(attacked_runtime(FixedRuntime(update), AttackConfig(), BYZANTINE)) is AttackedRuntime
    )
    runtime = attacked_runtime(StepRuntime(update), AttackConfig(kind="sign_flip"), BYZANTINE)
    assert isinstance(runtime, AttackedStepRuntime)
    step = RecordingStep()
    runtime.add_client_step(step)
    out = runtime.train(None, None, cohort, None)
    seen, positions = step.seen[0]
    np.testing.assert_array_equal(seen, [[1.0], [-2.0], [3.0]])
    assert positions == (0, 1, 2)
    np.testing.assert_array_equal(out.update[0].numpy(), [[101.0], [98.0], [103.0]])
