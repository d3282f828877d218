"""`tff.learning.templates` building blocks composed as the composing_learning_algorithms
tutorial composes them, with a client work whose update is checked by hand: each
client sends `weights - mean(its examples)`, weighted by its example count."""

import numpy as np
import pytest
import tensorflow as tf

import fedrun.compat.tff as tff

DATA_TYPE = tff.SequenceType(tff.TensorType(np.float32, [None, 2]))
CLIENT_EXAMPLES = [
    np.array([[1.0, 2.0], [3.0, 4.0]], np.float32),
    np.array([[5.0, 6.0]], np.float32),
]


@tff.tensorflow.computation
def initial_model_weights_fn():
    return tff.learning.models.ModelWeights([tf.zeros([2])], [])


MODEL_WEIGHTS_TYPE = initial_model_weights_fn.type_signature.result


@tf.function
def client_update(dataset, initial_weights):
    total, count = tf.zeros([2]), 0.0
    for batch in dataset:
        total += tf.reduce_sum(batch, axis=0)
        count += tf.cast(tf.shape(batch)[0], tf.float32)
    update = [initial_weights.trainable[0] - total / count]
    return tff.learning.templates.ClientResult(update=update, update_weight=count)


def build_client_work():
    @tff.federated_computation
    def initialize_fn():
        return tff.federated_value((), tff.SERVER)

    @tff.tensorflow.computation(MODEL_WEIGHTS_TYPE, DATA_TYPE)
    def client_update_computation(model_weights, dataset):
        return client_update(dataset, model_weights)

    @tff.federated_computation(
        initialize_fn.type_signature.result,
        tff.FederatedType(MODEL_WEIGHTS_TYPE, tff.CLIENTS),
        tff.FederatedType(DATA_TYPE, tff.CLIENTS),
    )
    def next_fn(state, model_weights, client_dataset):
        client_result = tff.federated_map(
            client_update_computation, (model_weights, client_dataset)
        )
        measurements = tff.federated_value((), tff.SERVER)
        return tff.templates.MeasuredProcessOutput(state, client_result, measurements)

    return tff.learning.templates.ClientWorkProcess(initialize_fn, next_fn)


@pytest.fixture(scope="module")
def process():
    distributor = tff.learning.templates.build_broadcast_process(MODEL_WEIGHTS_TYPE)
    aggregator = tff.aggregators.MeanFactory().create(
        MODEL_WEIGHTS_TYPE.trainable, tff.TensorType(np.float32)
    )
    finalizer = tff.learning.templates.build_apply_optimizer_finalizer(
        tff.learning.optimizers.build_sgdm(learning_rate=1.0), MODEL_WEIGHTS_TYPE
    )
    return tff.learning.templates.compose_learning_process(
        initial_model_weights_fn, distributor, build_client_work(), aggregator, finalizer
    )


def federated_data():
    return [tf.data.Dataset.from_tensor_slices(x).batch(1) for x in CLIENT_EXAMPLES]


def test_model_weights_type_and_members():
    assert str(MODEL_WEIGHTS_TYPE) == "<trainable=<float32[2]>,non_trainable=<>>"
    assert str(MODEL_WEIGHTS_TYPE.trainable) == "<float32[2]>"


def test_state_prints_as_in_the_tutorial(process):
    state = process.initialize()
    assert state.client_work == ()
    assert str(state.finalizer) == "OrderedDict([('learning_rate', 1.0)])"
    assert str(process.next.type_signature).startswith(
        "(<state=<global_model_weights=<trainable=<float32[2]>,non_trainable=<>>,distributor=<>,"
        "client_work=<>,aggregator=<value_sum_process=<>,weight_sum_process=<>>,"
        "finalizer=<learning_rate=float32>>@SERVER,client_data={float32[?,2]*}@CLIENTS> -> "
    )


def test_a_round_applies_the_weighted_mean_update(process):
    output = process.next(process.initialize(), federated_data())
    # Updates -[2, 3] (2 examples) and -[5, 6] (1 example): mean -[3, 4]; SGD(1.0) subtracts it.
    np.testing.assert_allclose(process.get_model_weights(output.state).trainable[0], [3.0, 4.0])
    assert str(output.metrics) == (
        "OrderedDict([('distributor', ()), ('client_work', ()), ('aggregator', "
        "OrderedDict([('mean_value', ()), ('mean_weight', ())])), ('finalizer', "
        "OrderedDict([('update_non_finite', 0)]))])"
    )
    second = process.next(output.state, federated_data())
    # From [3, 4]: updates [1, 1] (2 examples) and [-2, -2] (1 example) average to zero.
    np.testing.assert_allclose(process.get_model_weights(second.state).trainable[0], [3.0, 4.0])


def test_set_model_weights_starts_from_other_weights(process):
    state = process.set_model_weights(
        process.initialize(),
        tff.learning.models.ModelWeights([np.array([1.0, 1.0], np.float32)], ()),
    )
    output = process.next(state, federated_data())
    # Updates [1, 1] - [2, 3] and [1, 1] - [5, 6]: mean [-2, -3]; weights [1, 1] + [2, 3].
    np.testing.assert_allclose(process.get_model_weights(output.state).trainable[0], [3.0, 4.0])


def test_the_finalizer_rejects_a_non_finite_update():
    finalizer = tff.learning.templates.build_apply_optimizer_finalizer(
        tff.learning.optimizers.build_sgdm(learning_rate=0.5, momentum=0.9), MODEL_WEIGHTS_TYPE
    )
    state = finalizer.initialize()
    weights = tff.learning.models.ModelWeights([np.array([1.0, 2.0], np.float32)], ())
    rejected = finalizer.next(state, weights, [np.array([np.nan, 1.0], np.float32)])
    np.testing.assert_array_equal(rejected.result.trainable[0], [1.0, 2.0])
    np.testing.assert_array_equal(rejected.state["momentum"][0], [0.0, 0.0])
    assert rejected.measurements["update_non_finite"] == 1
    applied = finalizer.next(state, weights, [np.array([2.0, 4.0], np.float32)])
    np.testing.assert_allclose(applied.result.trainable[0], [0.0, 0.0])
    assert applied.measurements["update_non_finite"] == 0


@pytest.mark.parametrize(
    "build, message",
    [
        (
            lambda: tff.learning.templates.build_broadcast_process(tff.TensorType(np.float32)),
            "ModelWeights",
        ),
        (
            lambda: tff.learning.templates.compose_learning_process(
                initial_model_weights_fn,
                build_client_work(),
                build_client_work(),
                tff.aggregators.MeanFactory().create(
                    MODEL_WEIGHTS_TYPE.trainable, tff.TensorType(np.float32)
                ),
                tff.learning.templates.build_broadcast_process(MODEL_WEIGHTS_TYPE),
            ),
            "model_weights_distributor must be a DistributionProcess",
        ),
        (
            lambda: tff.learning.templates.ClientWorkProcess(
                tff.federated_computation(lambda: tff.federated_value((), tff.SERVER)),
                tff.federated_computation(
                    lambda state, weights, data: tff.templates.MeasuredProcessOutput(
                        state, weights, tff.federated_value((), tff.SERVER)
                    ),
                    tff.FederatedType(tff.StructType([]), tff.SERVER),
                    tff.FederatedType(MODEL_WEIGHTS_TYPE, tff.CLIENTS),
                    tff.FederatedType(DATA_TYPE, tff.CLIENTS),
                ),
            ),
            "must return a tff.learning.templates.ClientResult",
        ),
    ],
    ids=["weights-type", "blocks-in-the-wrong-order", "client-work-without-client-result"],
)
def test_blocks_that_do_not_fit_are_refused(build, message):
    with pytest.raises(TypeError, match=message):
        build()
