"""TFF's custom_federated_algorithms_2 tutorial with `import fedrun.compat.tff as tff`,
on generated digits in the tutorial's layout (per-digit clients of batch dicts).

The tutorial's one Keras 2 idiom, `tf.keras.optimizers.SGD(learning_rate)` with a
tensor learning rate inside the body, is written as the plain SGD step it is
(Keras 3 takes only Python numbers there). Losses are checked against numpy.
"""

import collections
import math

import numpy as np
import pytest
import tensorflow as tf

import fedrun.compat.tff as tff

NUM_EXAMPLES_PER_USER = 40
BATCH_SIZE = 15


def fake_mnist(n, seed):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 8, size=(n, 28, 28)).astype(np.uint8), (np.arange(n) % 10).astype(
        np.uint8
    )


def get_data_for_digit(source, digit):
    output_sequence = []
    all_samples = [i for i, d in enumerate(source[1]) if d == digit]
    for i in range(0, min(len(all_samples), NUM_EXAMPLES_PER_USER), BATCH_SIZE):
        batch_samples = all_samples[i : i + BATCH_SIZE]
        output_sequence.append(
            {
                "x": np.array(
                    [source[0][i].flatten() / 255.0 for i in batch_samples], dtype=np.float32
                ),
                "y": np.array([source[1][i] for i in batch_samples], dtype=np.int32),
            }
        )
    return output_sequence


# ------------------------------------------------------------------ numpy reference
def np_loss(model, batch):
    logits = batch["x"] @ model["weights"] + model["bias"]
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    return -np.mean(np.log(p[np.arange(len(batch["y"])), batch["y"]]))


def np_step(model, batch, lr):
    logits = batch["x"] @ model["weights"] + model["bias"]
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    g = (p - np.eye(10)[batch["y"]]) / len(batch["y"])
    return {
        "weights": model["weights"] - lr * batch["x"].T @ g,
        "bias": model["bias"] - lr * g.sum(0),
    }


def np_local_train(model, lr, batches):
    for batch in batches:
        model = np_step(model, batch, lr)
    return model


@pytest.fixture(scope="module")
def tut():
    mnist_train, mnist_test = fake_mnist(600, 0), fake_mnist(200, 1)
    federated_train_data = [get_data_for_digit(mnist_train, d) for d in range(10)]
    federated_test_data = [get_data_for_digit(mnist_test, d) for d in range(10)]

    BATCH_SPEC = collections.OrderedDict(
        x=tf.TensorSpec(shape=[None, 784], dtype=tf.float32),
        y=tf.TensorSpec(shape=[None], dtype=tf.int32),
    )
    BATCH_TYPE = tff.types.tensorflow_to_type(BATCH_SPEC)
    MODEL_SPEC = collections.OrderedDict(
        weights=tf.TensorSpec(shape=[784, 10], dtype=tf.float32),
        bias=tf.TensorSpec(shape=[10], dtype=tf.float32),
    )
    MODEL_TYPE = tff.types.tensorflow_to_type(MODEL_SPEC)

    @tf.function
    def forward_pass(model, batch):
        predicted_y = tf.nn.softmax(tf.matmul(batch["x"], model["weights"]) + model["bias"])
        return -tf.reduce_mean(
            tf.reduce_sum(tf.one_hot(batch["y"], 10) * tf.math.log(predicted_y), axis=[1])
        )

    @tff.tensorflow.computation(MODEL_TYPE, BATCH_TYPE)
    def batch_loss(model, batch):
        return forward_pass(model, batch)

    @tff.tensorflow.computation(MODEL_TYPE, BATCH_TYPE, np.float32)
    def batch_train(initial_model, batch, learning_rate):
        model_vars = collections.OrderedDict(
            [
                (name, tf.Variable(name=name, initial_value=value))
                for name, value in initial_model.items()
            ]
        )

        @tf.function
        def _train_on_batch(model_vars, batch):
            with tf.GradientTape() as tape:
                loss = forward_pass(model_vars, batch)
            grads = tape.gradient(loss, model_vars)
            for name, variable in model_vars.items():
                variable.assign_sub(learning_rate * grads[name])
            return model_vars

        return _train_on_batch(model_vars, batch)

    LOCAL_DATA_TYPE = tff.SequenceType(BATCH_TYPE)

    @tff.federated_computation(MODEL_TYPE, np.float32, LOCAL_DATA_TYPE)
    def local_train(initial_model, learning_rate, all_batches):
        @tff.federated_computation((MODEL_TYPE, np.float32), BATCH_TYPE)
        def batch_fn(model_with_lr, batch):
            model, lr = model_with_lr
            return batch_train(model, batch, lr), lr

        trained_model, _ = tff.sequence_reduce(
            all_batches, (initial_model, learning_rate), batch_fn
        )
        return trained_model

    @tff.federated_computation(MODEL_TYPE, LOCAL_DATA_TYPE)
    def local_eval(model, all_batches):
        @tff.tensorflow.computation((MODEL_TYPE, np.float32), BATCH_TYPE)
        def accumulate_evaluation(model_and_accumulator, batch):
            model, accumulator = model_and_accumulator
            return model, accumulator + batch_loss(model, batch)

        _, total_loss = tff.sequence_reduce(all_batches, (model, 0.0), accumulate_evaluation)
        return total_loss

    SERVER_MODEL_TYPE = tff.FederatedType(MODEL_TYPE, tff.SERVER)
    CLIENT_DATA_TYPE = tff.FederatedType(LOCAL_DATA_TYPE, tff.CLIENTS)

    @tff.federated_computation(SERVER_MODEL_TYPE, CLIENT_DATA_TYPE)
    def federated_eval(model, data):
        return tff.federated_mean(
            tff.federated_map(local_eval, [tff.federated_broadcast(model), data])
        )

    SERVER_FLOAT_TYPE = tff.FederatedType(np.float32, tff.SERVER)

    @tff.federated_computation(SERVER_MODEL_TYPE, SERVER_FLOAT_TYPE, CLIENT_DATA_TYPE)
    def federated_train(model, learning_rate, data):
        return tff.federated_mean(
            tff.federated_map(
                local_train,
                [tff.federated_broadcast(model), tff.federated_broadcast(learning_rate), data],
            )
        )

    initial_model = collections.OrderedDict(
        weights=np.zeros([784, 10], dtype=np.float32), bias=np.zeros([10], dtype=np.float32)
    )
    return dict(locals())


def test_types_print_as_in_the_tutorial(tut):
    assert str(tut["BATCH_TYPE"]) == "<x=float32[?,784],y=int32[?]>"
    assert str(tut["MODEL_TYPE"]) == "<weights=float32[784,10],bias=float32[10]>"
    model, batch = "<weights=float32[784,10],bias=float32[10]>", "<x=float32[?,784],y=int32[?]>"
    assert str(tut["batch_loss"].type_signature) == f"(<model={model},batch={batch}> -> float32)"
    assert (
        str(tut["batch_train"].type_signature)
        == f"(<initial_model={model},batch={batch},learning_rate=float32> -> {model})"
    )
    assert str(tut["local_train"].type_signature) == (
        f"(<initial_model={model},learning_rate=float32,all_batches={batch}*> -> {model})"
    )
    assert (
        str(tut["local_eval"].type_signature)
        == f"(<model={model},all_batches={batch}*> -> float32)"
    )
    assert (
        str(tut["federated_eval"].type_signature)
        == f"(<model={model}@SERVER,data={{{batch}*}}@CLIENTS> -> float32@SERVER)"
    )


def test_batch_training_lowers_the_loss_as_numpy_does(tut):
    sample_batch = tut["federated_train_data"][5][-1]
    np.testing.assert_allclose(
        tut["batch_loss"](tut["initial_model"], sample_batch), math.log(10), rtol=1e-6
    )
    model, expected, losses = tut["initial_model"], dict(tut["initial_model"]), []
    for _ in range(5):
        model = tut["batch_train"](model, sample_batch, 0.1)
        losses.append(tut["batch_loss"](model, sample_batch))
        expected = np_step(expected, sample_batch, 0.1)
    np.testing.assert_allclose(losses[-1], np_loss(expected, sample_batch), rtol=1e-5)
    assert losses == sorted(losses, reverse=True)


def test_local_training_and_evaluation_fold_the_batches(tut):
    batches = tut["federated_train_data"][5]
    initial = tut["initial_model"]
    assert len(batches) == 3
    np.testing.assert_allclose(tut["local_eval"](initial, batches), 3 * math.log(10), rtol=1e-6)
    locally_trained_model = tut["local_train"](initial, 0.1, batches)
    expected = np_local_train(dict(initial), 0.1, batches)
    np.testing.assert_allclose(locally_trained_model["weights"], expected["weights"], atol=1e-6)
    np.testing.assert_allclose(
        tut["local_eval"](locally_trained_model, batches),
        sum(np_loss(expected, b) for b in batches),
        rtol=1e-5,
    )


@pytest.mark.slow
def test_federated_training_rounds_match_numpy(tut):
    data = tut["federated_train_data"]
    model, learning_rate, expected = tut["initial_model"], 0.1, dict(tut["initial_model"])
    printed = []
    for round_num in range(2):
        model = tut["federated_train"](model, learning_rate, data)
        trained = [
            np_local_train(dict(expected), np.float32(learning_rate), batches) for batches in data
        ]
        expected = {k: np.mean([t[k] for t in trained], axis=0) for k in expected}
        learning_rate = learning_rate * 0.9
        loss = tut["federated_eval"](model, data)
        np.testing.assert_allclose(
            loss,
            np.mean([sum(np_loss(expected, b) for b in batches) for batches in data]),
            rtol=1e-5,
        )
        printed.append("round {}, loss={}".format(round_num, loss))
    assert printed[0].startswith("round 0, loss=") and float(printed[1].split("=")[1]) < float(
        printed[0].split("=")[1]
    )
    assert tut["federated_eval"](model, tut["federated_test_data"]) < tut["federated_eval"](
        tut["initial_model"], tut["federated_test_data"]
    )
