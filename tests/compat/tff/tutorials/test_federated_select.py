"""TFF's federated_select tutorial with `import fedrun.compat.tff as tff`."""

import numpy as np
import pytest
import tensorflow as tf

import fedrun.compat.tff as tff

list_of_strings_type = tff.TensorType(np.str_, [None])
number_of_keys_per_client = 2
keys_type = tff.TensorType(np.int32, [number_of_keys_per_client])
get_size = tff.tensorflow.computation(lambda x: tf.size(x))
select_fn = tff.tensorflow.computation(lambda val, index: tf.gather(val, index))
client_data_type = np.str_


@tff.tensorflow.computation(client_data_type)
def keys_for_client(client_string):
    split = tf.strings.split([client_string], sep=",")[0]
    return tf.strings.to_number([split[0], split[1]], tf.int32)


@tff.tensorflow.computation(tff.SequenceType(np.str_))
def concatenate(values):
    def reduce_fn(acc, item):
        return tf.cond(
            tf.math.equal(acc, ""), lambda: item, lambda: tf.strings.join([acc, item], ",")
        )

    return values.reduce("", reduce_fn)


@tff.federated_computation(
    tff.FederatedType(list_of_strings_type, tff.SERVER),
    tff.FederatedType(client_data_type, tff.CLIENTS),
)
def broadcast_based_on_client_data(list_of_strings_at_server, client_data):
    keys_at_clients = tff.federated_map(keys_for_client, client_data)
    max_key = tff.federated_map(get_size, list_of_strings_at_server)
    values_at_clients = tff.federated_select(
        keys_at_clients, max_key, list_of_strings_at_server, select_fn
    )
    value_at_clients = tff.federated_map(concatenate, values_at_clients)
    return value_at_clients


def test_selects_each_clients_keys_from_the_server_list():
    assert str(broadcast_based_on_client_data.type_signature) == (
        "(<list_of_strings_at_server=string[?]@SERVER,client_data={string}@CLIENTS> -> {string}@CLIENTS)"
    )
    client_data = ["0,1", "1,2", "2,0"]
    assert broadcast_based_on_client_data(["a", "b", "c"], client_data) == [b"a,b", b"b,c", b"c,a"]


@tff.tensorflow.computation(np.int32)
def get_random_key(max_key):
    return tf.random.uniform(shape=[1], minval=0, maxval=max_key, dtype=tf.int32)


@tff.tensorflow.computation(tff.SequenceType(np.str_))
def get_last_element(sequence):
    return sequence.reduce("", lambda _initial_state, val: val)


@tff.federated_computation(tff.FederatedType(list_of_strings_type, tff.SERVER))
def broadcast_random_element(list_of_strings_at_server):
    max_key_at_server = tff.federated_map(get_size, list_of_strings_at_server)
    max_key_at_clients = tff.federated_broadcast(max_key_at_server)
    key_at_clients = tff.federated_map(get_random_key, max_key_at_clients)
    random_string_sequence_at_clients = tff.federated_select(
        key_at_clients, max_key_at_server, list_of_strings_at_server, select_fn
    )
    random_string_at_clients = tff.federated_map(
        get_last_element, random_string_sequence_at_clients
    )
    return random_string_at_clients


def test_selects_a_random_element_for_each_client():
    tff.backends.native.set_sync_local_cpp_execution_context(default_num_clients=3)
    try:
        assert (
            str(broadcast_random_element.type_signature) == "(string[?]@SERVER -> {string}@CLIENTS)"
        )
        selected = broadcast_random_element(tf.convert_to_tensor(["foo", "bar", "baz"]))
    finally:
        tff.backends.native.set_sync_local_cpp_execution_context()
    assert len(selected) == 3 and set(selected) <= {b"foo", b"bar", b"baz"}


@pytest.mark.parametrize(
    "keys, problem",
    [(["0,3", "1,2", "2,0"], r"client 0's keys \[0, 3\] must lie in \[0, 3\)")],
    ids=["key-past-max"],
)
def test_keys_outside_max_key_are_refused(keys, problem):
    with pytest.raises(ValueError, match=problem):
        broadcast_based_on_client_data(["a", "b", "c"], keys)


def test_unplaced_keys_are_refused():
    with pytest.raises(TypeError, match="client_keys must be a value placed at CLIENTS"):
        tff.federated_select(np.array([0, 1], np.int32), 3, ["a"], select_fn)
