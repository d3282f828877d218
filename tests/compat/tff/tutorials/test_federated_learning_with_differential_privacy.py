"""TFF's federated_learning_with_differential_privacy tutorial with
`import fedrun.compat.tff as tff`, on tiny EMNIST files in TFF's layout
(`cache_dir=` points the loader at them). Its `train` runs as written, with two
changes TFF 0.87 itself needs: `tff.learning.build_federated_evaluation` (gone in
0.87; the facade names its replacement) becomes `build_fed_eval`, and the rows are
collected in a list (pandas 2 removed `DataFrame.append`)."""

import collections

import dp_accounting
import numpy as np
import pytest
import tensorflow as tf

import fedrun.compat.tff as tff
from tests.compat.tff.emnist_files import write_emnist

NUM_CLIENTS = 12


def test_hello_world():
    @tff.federated_computation
    def hello_world():
        return "Hello, World!"

    assert hello_world() == b"Hello, World!"


def test_the_removed_evaluation_builder_names_its_replacement():
    with pytest.raises(tff.UnsupportedError, match="tff.learning.algorithms.build_fed_eval"):
        _ = tff.learning.build_federated_evaluation


def get_emnist_dataset(cache_dir):
    emnist_train, emnist_test = tff.simulation.datasets.emnist.load_data(
        only_digits=True, cache_dir=cache_dir
    )

    def element_fn(element):
        return collections.OrderedDict(x=tf.expand_dims(element["pixels"], -1), y=element["label"])

    def preprocess_train_dataset(dataset):
        # Use buffer_size same as the maximum client dataset size,
        # 418 for Federated EMNIST
        return (
            dataset.map(element_fn)
            .shuffle(buffer_size=418)
            .repeat(1)
            .batch(32, drop_remainder=False)
        )

    def preprocess_test_dataset(dataset):
        return dataset.map(element_fn).batch(128, drop_remainder=False)

    emnist_train = emnist_train.preprocess(preprocess_train_dataset)
    emnist_test = preprocess_test_dataset(emnist_test.create_tf_dataset_from_all_clients())
    return emnist_train, emnist_test


@pytest.fixture(scope="module")
def tutorial(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("emnist"))
    write_emnist(directory, num_clients=NUM_CLIENTS)
    train_data, test_data = get_emnist_dataset(directory)

    def my_model_fn():
        model = tf.keras.models.Sequential(
            [
                tf.keras.layers.Reshape(input_shape=(28, 28, 1), target_shape=(28 * 28,)),
                tf.keras.layers.Dense(200, activation=tf.nn.relu),
                tf.keras.layers.Dense(200, activation=tf.nn.relu),
                tf.keras.layers.Dense(10),
            ]
        )
        return tff.learning.models.from_keras_model(
            keras_model=model,
            loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            input_spec=test_data.element_spec,
            metrics=[tf.keras.metrics.SparseCategoricalAccuracy()],
        )

    total_clients = len(train_data.client_ids)
    printed, aggregator_metrics, cohort_sizes = [], [], []

    def train(rounds, noise_multiplier, clients_per_round, data_frame):
        # Using the `dp_aggregator` here turns on differential privacy with adaptive
        # clipping.
        aggregation_factory = tff.learning.model_update_aggregator.dp_aggregator(
            noise_multiplier, clients_per_round
        )

        # We use Poisson subsampling which gives slightly tighter privacy guarantees
        # compared to having a fixed number of clients per round. The actual number of
        # clients per round is stochastic with mean clients_per_round.
        sampling_prob = clients_per_round / total_clients

        # Build a federated averaging process.
        # Typically a non-adaptive server optimizer is used because the noise in the
        # updates can cause the second moment accumulators to become very large
        # prematurely.
        learning_process = tff.learning.algorithms.build_unweighted_fed_avg(
            my_model_fn,
            client_optimizer_fn=tff.learning.optimizers.build_sgdm(0.01),
            server_optimizer_fn=tff.learning.optimizers.build_sgdm(1.0, momentum=0.9),
            model_aggregator=aggregation_factory,
        )

        eval_process = tff.learning.algorithms.build_fed_eval(my_model_fn)

        def evaluate(model_weights):
            eval_state = eval_process.set_model_weights(eval_process.initialize(), model_weights)
            output = eval_process.next(eval_state, [test_data])
            return output.metrics["client_work"]["eval"]["current_round_metrics"]

        # Training loop.
        state = learning_process.initialize()
        for round in range(rounds):
            if round % 5 == 0:
                model_weights = learning_process.get_model_weights(state)
                metrics = evaluate(model_weights)
                if round < 25 or round % 25 == 0:
                    printed.append(f"Round {round:3d}: {metrics}")
                data_frame.append({"Round": round, "NoiseMultiplier": noise_multiplier, **metrics})

            # Sample clients for a round. Note that if your dataset is large and
            # sampling_prob is small, it would be faster to use gap sampling.
            x = np.random.uniform(size=total_clients)
            sampled_clients = [
                train_data.client_ids[i] for i in range(total_clients) if x[i] < sampling_prob
            ]
            sampled_train_data = [
                train_data.create_tf_dataset_for_client(client) for client in sampled_clients
            ]

            # Use selected clients for update.
            result = learning_process.next(state, sampled_train_data)
            state = result.state
            metrics = result.metrics
            aggregator_metrics.append(metrics["aggregator"])
            cohort_sizes.append(len(sampled_clients))

        model_weights = learning_process.get_model_weights(state)
        metrics = evaluate(model_weights)
        printed.append(f"Round {rounds:3d}: {metrics}")
        data_frame.append({"Round": rounds, "NoiseMultiplier": noise_multiplier, **metrics})

        return data_frame

    np.random.seed(0)
    data_frame = []
    rounds, clients_per_round = 5, 6
    # With 6 expected clients the adaptive clip's count noise (6 / 20) allows noise
    # multipliers below 0.6 (TFF raises as fedrun does above).
    for noise_multiplier in [0.0, 0.5]:
        printed.append(f"Starting training with noise multiplier: {noise_multiplier}")
        data_frame = train(rounds, noise_multiplier, clients_per_round, data_frame)
    return printed, data_frame, aggregator_metrics, cohort_sizes


@pytest.mark.slow
def test_training_prints_the_evaluation_every_five_rounds(tutorial):
    printed, data_frame, _, _ = tutorial
    assert [line.split(":")[0] for line in printed] == [
        "Starting training with noise multiplier",
        "Round   0",
        "Round   5",
    ] * 2
    assert printed[1].startswith("Round   0: OrderedDict([('sparse_categorical_accuracy', ")
    assert [(row["Round"], row["NoiseMultiplier"]) for row in data_frame] == [
        (0, 0.0),
        (5, 0.0),
        (0, 0.5),
        (5, 0.5),
    ]
    # Evaluation covers every test example: 6 + 7 * (i % 4) per client.
    test_examples = sum(6 + 7 * (i % 4) for i in range(NUM_CLIENTS))
    assert {row["num_examples"] for row in data_frame} == {test_examples}


@pytest.mark.slow
def test_clients_are_poisson_sampled(tutorial):
    _, _, _, cohort_sizes = tutorial
    assert len(cohort_sizes) == 10
    assert len(set(cohort_sizes)) > 1  # the cohort size varies around 6
    assert all(0 < size <= NUM_CLIENTS for size in cohort_sizes)


@pytest.mark.slow
def test_noise_multiplier_zero_is_the_noiseless_baseline(tutorial):
    _, data_frame, aggregator_metrics, _ = tutorial
    noiseless, noised = aggregator_metrics[:5], aggregator_metrics[5:]
    for metrics in noiseless:
        dp = metrics["zeroing"]
        assert dp["noise_stddev"] == 0.0 and dp["epsilon"] == float("inf")
    for metrics in noised:
        dp = metrics["zeroing"]
        assert dp["noise_stddev"] > 0.0 and 0 < dp["epsilon"] < float("inf")
    # Without noise the model learns the easy task within five rounds.
    assert data_frame[1]["loss"] < data_frame[0]["loss"]


def test_calibrating_clients_per_round_for_a_privacy_target():
    rounds = 100
    total_clients = 3383
    noise_to_clients_ratio = 0.01
    target_delta = 1e-5
    target_eps = 2

    make_fresh_accountant = dp_accounting.rdp.RdpAccountant

    def make_event_from_param(clients_per_round):
        q = clients_per_round / total_clients
        noise_multiplier = clients_per_round * noise_to_clients_ratio
        gaussian_event = dp_accounting.GaussianDpEvent(noise_multiplier)
        sampled_event = dp_accounting.PoissonSampledDpEvent(q, gaussian_event)
        composed_event = dp_accounting.SelfComposedDpEvent(sampled_event, rounds)
        return composed_event

    bracket_interval = dp_accounting.ExplicitBracketInterval(1, total_clients)
    clients_per_round = dp_accounting.calibrate_dp_mechanism(
        make_fresh_accountant,
        make_event_from_param,
        target_eps,
        target_delta,
        bracket_interval,
        discrete=True,
    )
    noise_multiplier = clients_per_round * noise_to_clients_ratio
    assert (
        f"To get ({target_eps}, {target_delta})-DP, use {clients_per_round} "
        f"clients with noise multiplier {noise_multiplier}."
    ) == "To get (2, 1e-05)-DP, use 120 clients with noise multiplier 1.2."
