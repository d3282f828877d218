"""`VariableTrainer`: a raw-variable model trains and evaluates like the same
`FunctionalModel` does under `LocalTrainer`."""

import collections

import numpy as np
import pytest
import tensorflow as tf

from fedrun.data.client_data import ArrayClientData
from fedrun.data.cohort import build_cohort, build_eval_cohort
from fedrun.data.preprocess import PreprocessConfig
from fedrun.learning.algorithms.fedavg import build_fed_avg
from fedrun.learning.evaluation import build_fed_eval
from fedrun.models.functional import ModelWeights
from fedrun.models.variable_model import BatchOutput, VariableModel
from fedrun.optimizers import SGD, Adam
from fedrun.runtime.local import SequentialRuntime, VectorizedRuntime
from fedrun.runtime.trainer import LocalRule, no_inputs
from fedrun.runtime.variable_trainer import VariableModelFunctions, VariableTrainer
from tests.conftest import make_arrays


class LogReg(VariableModel):
    """Multinomial logistic regression over 6 features and 3 classes, in raw variables."""

    def __init__(self):
        self.w = tf.Variable(tf.zeros([6, 3]))
        self.b = tf.Variable(tf.zeros([3]))
        self.count = tf.Variable(0.0, trainable=False)
        self.loss_sum = tf.Variable(0.0, trainable=False)
        self.correct = tf.Variable(0.0, trainable=False)

    @property
    def trainable_variables(self):
        return [self.w, self.b]

    @property
    def non_trainable_variables(self):
        return []

    @property
    def local_variables(self):
        return [self.count, self.loss_sum, self.correct]

    @property
    def input_spec(self):
        return collections.OrderedDict(
            x=tf.TensorSpec([None, 6]), y=tf.TensorSpec([None], tf.int32)
        )

    @tf.function
    def predict_on_batch(self, x, training=True):
        return tf.nn.softmax(x @ self.w + self.b)

    @tf.function
    def forward_pass(self, batch, training=True):
        p = self.predict_on_batch(batch["x"])
        losses = -tf.math.log(tf.gather(p, batch["y"], batch_dims=1))
        n = tf.cast(tf.size(batch["y"]), tf.float32)
        self.count.assign_add(n)
        self.loss_sum.assign_add(tf.reduce_sum(losses))
        self.correct.assign_add(
            tf.reduce_sum(tf.cast(tf.equal(tf.argmax(p, 1, tf.int32), batch["y"]), tf.float32))
        )
        return BatchOutput(
            loss=tf.reduce_mean(losses), predictions=p, num_examples=tf.size(batch["y"])
        )

    @tf.function
    def report_local_unfinalized_metrics(self):
        return collections.OrderedDict(
            loss=[self.loss_sum, self.count], accuracy=[self.correct, self.count]
        )

    def metric_finalizers(self):
        return collections.OrderedDict(loss=lambda v: v[0] / v[1], accuracy=lambda v: v[0] / v[1])

    @tf.function
    def reset_metrics(self):
        for v in self.local_variables:
            v.assign(tf.zeros_like(v))


class Proximal(LocalRule):
    """Adds `mu * (w - w_initial)` to the gradient (written for any leading axes)."""

    def adjust_gradients(self, gradients, weights, initial, inputs):
        return [g + 0.5 * (w - i) for g, w, i in zip(gradients, weights, initial)]


@pytest.fixture(scope="module")
def round_setup():
    arrays = make_arrays(11, seed=5)
    data = ArrayClientData(arrays, {"a": np.arange(7), "b": np.arange(7, 11)})
    config = PreprocessConfig(
        epochs=2, batch_size=3, shuffle_buffer=4, shuffle_seed=2, flatten=False
    )
    cohort = build_cohort(data, ["a", "b"], config, seed=0, round_num=1)
    rng = np.random.default_rng(1)
    weights = ModelWeights(
        [
            tf.constant(rng.normal(size=(6, 3)).astype(np.float32)),
            tf.constant(rng.normal(size=3).astype(np.float32)),
        ],
        [],
    )
    return data, cohort, weights


def test_functions_read_weights_specs_and_metrics():
    functions = VariableModelFunctions(LogReg())
    assert [w.shape for w in functions.weight_specs.trainable] == [(6, 3), (3,)]
    assert functions.input_spec == {"x": tf.TensorSpec([6]), "y": tf.TensorSpec([], tf.int32)}
    assert list(functions.initial_metrics()) == ["loss", "accuracy"]
    final = functions.finalize_metrics(
        {
            "loss": [tf.constant(3.0), tf.constant(2.0)],
            "accuracy": [tf.constant(1.0), tf.constant(2.0)],
        }
    )
    assert (float(final["loss"]), float(final["accuracy"])) == (1.5, 0.5)


@pytest.mark.parametrize(
    "runtime, optimizer, rule",
    [
        (SequentialRuntime(), SGD(0.3), LocalRule()),
        (VectorizedRuntime(), Adam(0.05, 0.9, 0.999, 1e-7, 0.0, True), Proximal()),
    ],
    ids=["sequential-sgd-fedavg", "vectorized-adam-proximal"],
)
def test_round_matches_the_functional_model(tiny_model, round_setup, rule, optimizer, runtime):
    _, cohort, weights = round_setup
    outputs = []
    for model in (tiny_model, LogReg()):
        process = build_fed_avg(model, optimizer, runtime=runtime, rule=rule)
        state = process.set_model_weights(process.initialize(), weights)
        outputs.append(process.next(state, cohort))
    functional, variable = outputs
    for got, want in zip(
        variable.state.global_model_weights.trainable,
        functional.state.global_model_weights.trainable,
    ):
        np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-5)
    want_train, got_train = (
        functional.metrics["client_work"]["train"],
        variable.metrics["client_work"]["train"],
    )
    assert list(got_train) == ["loss", "accuracy"]
    np.testing.assert_allclose(float(got_train["loss"]), float(want_train["loss"]), rtol=1e-5)
    np.testing.assert_allclose(
        float(got_train["accuracy"]), float(want_train["accuracy"]), rtol=1e-6
    )


def test_trainer_reports_examples_and_steps(round_setup):
    _, cohort, weights = round_setup
    trainer = VariableTrainer(VariableModelFunctions(LogReg()), SGD(0.1), LocalRule())
    outputs = trainer.train(weights, cohort, no_inputs(0.1, 2))
    np.testing.assert_array_equal(outputs.num_examples.numpy(), [14.0, 8.0])
    np.testing.assert_array_equal(outputs.num_steps.numpy(), [5, 3])
    assert [u.shape for u in outputs.update] == [(2, 6, 3), (2, 3)]


def test_evaluation_matches_the_functional_model(tiny_model, round_setup):
    data, _, weights = round_setup
    cohort = build_eval_cohort(data, ["a", "b"], batch_size=4)
    results = []
    for model in (tiny_model, LogReg()):
        process = build_fed_eval(model)
        state = process.set_model_weights(process.initialize(), weights)
        results.append(
            process.next(state, cohort).metrics["client_work"]["eval"]["current_round_metrics"]
        )
    np.testing.assert_allclose(float(results[1]["loss"]), float(results[0]["loss"]), rtol=1e-5)
    np.testing.assert_allclose(
        float(results[1]["accuracy"]), float(results[0]["accuracy"]), rtol=1e-6
    )


def test_evaluation_only_trainer_refuses_to_train(round_setup):
    _, cohort, weights = round_setup
    trainer = VariableTrainer(VariableModelFunctions(LogReg()), None, LocalRule())
    with pytest.raises(ValueError, match="evaluation only"):
        trainer.train(weights, cohort, None)
