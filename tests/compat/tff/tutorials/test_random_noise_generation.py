"""TFF's random_noise_generation tutorial with `import fedrun.compat.tff as tff`.

Seeded cells print TFF's numbers (stateless ops and `Generator.from_seed` depend
only on the seed); unseeded cells are checked as the tutorial checks them.
"""

import numpy as np
import pytest
import tensorflow as tf

import fedrun.compat.tff as tff


@pytest.fixture(scope="module", autouse=True)
def ten_clients():
    # Set to use 10 clients.
    tff.backends.native.set_sync_local_cpp_execution_context(default_num_clients=10)
    yield
    tff.backends.native.set_sync_local_cpp_execution_context()


def test_clients_sample_the_same_value_from_a_broadcast_seed():
    @tff.tensorflow.computation
    def noise_from_seed(seed):
        return tf.random.stateless_normal((), seed=seed)

    seed_type_at_server = tff.FederatedType(tff.to_type((np.int64, [2])), tff.SERVER)

    @tff.federated_computation(seed_type_at_server)
    def get_random_min_and_max_deterministic(seed):
        seed_on_clients = tff.federated_broadcast(seed)
        noise_on_clients = tff.federated_map(noise_from_seed, seed_on_clients)
        min = tff.federated_min(noise_on_clients)
        max = tff.federated_max(noise_on_clients)
        return min, max

    printed = []
    seed = tf.constant([1, 1], dtype=tf.int64)
    min, max = get_random_min_and_max_deterministic(seed)
    assert min == max
    printed.append(f"Seed: {seed.numpy()}. All clients sampled value {min:8.3f}.")
    seed += 1
    min, max = get_random_min_and_max_deterministic(seed)
    assert min == max
    printed.append(f"Seed: {seed.numpy()}. All clients sampled value {min:8.3f}.")
    assert printed == [
        "Seed: [1 1]. All clients sampled value    1.665.",
        "Seed: [2 2]. All clients sampled value   -0.219.",
    ]


def check_values_differ(get_random_min_and_max_nondeterministic):
    min, max = get_random_min_and_max_nondeterministic()
    assert min != max
    new_min, new_max = get_random_min_and_max_nondeterministic()
    assert new_min != new_max
    assert new_min != min and new_max != max


def test_federated_eval_draws_per_client():
    @tff.tensorflow.computation
    def nondeterministic_noise():
        gen = tf.random.Generator.from_non_deterministic_state()
        return gen.normal(())

    @tff.federated_computation
    def get_random_min_and_max_nondeterministic():
        noise_on_clients = tff.federated_eval(nondeterministic_noise, tff.CLIENTS)
        min = tff.federated_min(noise_on_clients)
        max = tff.federated_max(noise_on_clients)
        return min, max

    assert (
        str(get_random_min_and_max_nondeterministic.type_signature)
        == "( -> <float32@SERVER,float32@SERVER>)"
    )
    check_values_differ(get_random_min_and_max_nondeterministic)


def test_keras_initializers_differ_per_client():
    def _keras_model():
        inputs = tf.keras.Input(shape=(1,))
        outputs = tf.keras.layers.Dense(1)(inputs)
        return tf.keras.Model(inputs=inputs, outputs=outputs)

    @tff.tensorflow.computation
    def tff_return_model_init():
        model = _keras_model()
        return tf.reshape(tff.learning.models.ModelWeights.from_model(model).trainable[0], [-1])[0]

    @tff.federated_computation
    def get_random_min_and_max_nondeterministic():
        noise_on_clients = tff.federated_eval(tff_return_model_init, tff.CLIENTS)
        min = tff.federated_min(noise_on_clients)
        max = tff.federated_max(noise_on_clients)
        return min, max

    check_values_differ(get_random_min_and_max_nondeterministic)


@pytest.fixture
def global_seed():
    """The tutorial's global seed, cleared afterwards: it would make later tests' unseeded
    random ops deterministic."""
    tf.random.set_seed(1)
    yield
    tf.random.set_seed(None)


def test_global_seed_gives_different_noise_per_call(global_seed):

    @tff.tensorflow.computation
    def return_one_noise(_):
        return tf.random.normal([])

    n1 = return_one_noise(1)
    n2 = return_one_noise(2)
    assert n1 != n2


def test_generators_from_seeds_give_tffs_noise():
    @tff.tensorflow.computation
    def tff_return_one_noise(i):
        g = tf.random.Generator.from_seed(i)

        @tf.function
        def tf_return_one_noise():
            return g.normal([])

        return tf_return_one_noise()

    @tff.federated_computation
    def return_two_noise():
        return (tff_return_one_noise(1), tff_return_one_noise(2))

    n1, n2 = return_two_noise()
    assert n1 != n2
    assert f"{n1} {n2}" == "0.3052047 -0.38260335"


def test_generator_noise_for_a_structure_of_weights():
    @tff.tensorflow.computation
    def tff_return_one_noise(i):
        g = tf.random.Generator.from_seed(i)
        weights = [tf.ones([2, 2], dtype=tf.float32), tf.constant([2], dtype=tf.float32)]

        @tf.function
        def tf_return_one_noise():
            return tf.nest.map_structure(lambda x: g.normal(tf.shape(x)), weights)

        return tf_return_one_noise()

    @tff.federated_computation
    def return_two_noise():
        return (tff_return_one_noise(1), tff_return_one_noise(2))

    n1, n2 = return_two_noise()
    assert n1[1] != n2[1]
    np.testing.assert_array_equal(
        n1[0], np.array([[0.3052047, 0.5671378], [0.41852272, 0.2326421]], np.float32)
    )
    np.testing.assert_array_equal(n1[1], np.array([1.1675092], np.float32))
    np.testing.assert_array_equal(n2[1], np.array([-0.77835274], np.float32))


def test_seed_state_threaded_through_computations():
    def timestamp_seed():
        return tf.cast(tf.timestamp() * 1e6, tf.int64)

    class RandomSeedGenerator:
        def initialize(self, seed=None):
            if seed is None:
                return tf.stack([timestamp_seed(), 0])
            return tf.constant(self.seed, dtype=tf.int64, shape=(2,))

        def structure_next(self, state, nest_structure):
            flat_structure = tf.nest.flatten(nest_structure)
            flat_seeds = [state + tf.constant([0, i], tf.int64) for i in range(len(flat_structure))]
            nest_seeds = tf.nest.pack_sequence_as(nest_structure, flat_seeds)
            return nest_seeds, flat_seeds[-1] + tf.constant([0, 1], tf.int64)

    @tff.tensorflow.computation
    def tff_return_one_noise(seed_state):
        g = RandomSeedGenerator()
        weights = [tf.ones([2, 2], dtype=tf.float32), tf.constant([2], dtype=tf.float32)]

        @tf.function
        def tf_return_one_noise():
            nest_seeds, updated_state = g.structure_next(seed_state, weights)
            nest_noise = tf.nest.map_structure(
                lambda x, s: tf.random.stateless_normal(shape=tf.shape(x), seed=s),
                weights,
                nest_seeds,
            )
            return nest_noise, updated_state

        return tf_return_one_noise()

    @tff.tensorflow.computation
    def tff_init_state():
        g = RandomSeedGenerator()
        return g.initialize()

    @tff.federated_computation
    def return_two_noise():
        seed_state = tff_init_state()
        n1, seed_state = tff_return_one_noise(seed_state)
        n2, seed_state = tff_return_one_noise(seed_state)
        return (n1, n2)

    n1, n2 = return_two_noise()
    assert n1[1] != n2[1]
    assert [a.shape for a in n1] == [(2, 2), (1,)]
