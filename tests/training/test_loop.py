"""The loop's reliability: checkpoints when due, a clean stop on request, the last
completed round saved when a round fails, and `min_clients`."""

import signal

import numpy as np
import pytest

from fedrun.aggregators.mean import MeanFactory
from fedrun.aggregators.secure import SecureSumFactory
from fedrun.data.client_data import ArrayClientData, FederatedData
from fedrun.data.preprocess import PreprocessConfig
from fedrun.learning.algorithms.fedavg import build_weighted_fed_avg
from fedrun.learning.faults import RoundFailedError
from fedrun.optimizers import SGD
from fedrun.training.callbacks import Callback
from fedrun.training.checkpoint import CheckpointConfig, list_checkpoints, load_checkpoint
from fedrun.training.checkpointer import Checkpointer
from fedrun.training.loop import LoopConfig, round_record, run_rounds
from fedrun.training.sampling import FixedSampler
from fedrun.training.signals import RunInterrupted, StopRequest
from fedrun.training.stragglers import StragglerConfig, StragglerSimulator
from tests.conftest import make_arrays
from tests.learning.test_faults import FlakyClientData

PREPROCESS = PreprocessConfig(epochs=1, batch_size=5, shuffle_buffer=0, flatten=False)


@pytest.fixture(scope="module")
def process(tiny_model):
    return build_weighted_fed_avg(tiny_model, SGD(0.1))


def federated(train):
    return FederatedData("tiny", train, None, None, 3)


@pytest.fixture(scope="module")
def data():
    arrays = make_arrays(30)
    return federated(
        ArrayClientData(
            arrays, {cid: np.arange(10 * k, 10 * k + 10) for k, cid in enumerate("abc")}
        )
    )


def loop_config(rounds, min_clients=1):
    return LoopConfig(rounds, 3, 0, PREPROCESS, min_clients)


class FailingAt:
    """A process whose round `round_num` raises."""

    def __init__(self, process, round_num):
        self.process = process
        self.round_num = round_num
        self.initialize = process.initialize
        self.get_model_weights = process.get_model_weights

    def next(self, state, cohort):
        if cohort.round_num == self.round_num:
            raise RuntimeError("an evaluation bug")
        return self.process.next(state, cohort)


def run(process, data, config, checkpointer, stop=None, start_round=1, state=None, stragglers=None):
    state = process.initialize() if state is None else state
    return run_rounds(
        process,
        data,
        FixedSampler(),
        config,
        state,
        (),
        start_round,
        stragglers=stragglers,
        checkpointer=checkpointer,
        stop=stop,
    )


def test_checkpoints_when_due_and_at_the_end(process, data, tmp_path):
    checkpointer = Checkpointer(str(tmp_path), CheckpointConfig(every=2, keep=10))
    state, records = run(process, data, loop_config(5), checkpointer)
    assert [r for r, _ in list_checkpoints(str(tmp_path))] == [2, 4, 5]
    assert [r["clients_failed"] for r in records] == [0] * 5
    final = load_checkpoint(str(tmp_path / "round_000005.json"), process.initialize())
    np.testing.assert_array_equal(
        final.state.global_model_weights.trainable[0], state.global_model_weights.trainable[0]
    )


def test_stop_request_finishes_the_round_and_checkpoints(process, data, tmp_path):
    checkpointer = Checkpointer(str(tmp_path), CheckpointConfig(every=0, keep=3))
    stop = StopRequest()
    stop.signal_number = signal.SIGINT
    with pytest.raises(RunInterrupted) as caught:
        run(process, data, loop_config(5), checkpointer, stop, start_round=3)
    assert caught.value.round_num == 3 and caught.value.exit_code == 130
    assert caught.value.checkpoint.endswith("round_000003.json")
    assert [r for r, _ in list_checkpoints(str(tmp_path))] == [3]


def test_failed_round_keeps_the_last_completed_state(process, data, tmp_path):
    checkpointer = Checkpointer(str(tmp_path), CheckpointConfig(every=10, keep=3))
    with pytest.raises(RuntimeError, match="an evaluation bug"):
        run(FailingAt(process, 4), data, loop_config(6), checkpointer)
    assert [r for r, _ in list_checkpoints(str(tmp_path))] == [3]
    reference, _ = run(process, data, loop_config(3), None)
    saved = load_checkpoint(str(tmp_path / "round_000003.json"), process.initialize())
    for have, want in zip(
        saved.state.global_model_weights.trainable, reference.global_model_weights.trainable
    ):
        np.testing.assert_array_equal(have, want)


def test_too_few_surviving_clients_fail_the_round(process, tmp_path):
    flaky = federated(FlakyClientData({"b"}))
    checkpointer = Checkpointer(str(tmp_path), CheckpointConfig(every=10, keep=3))
    _, records = run(process, flaky, loop_config(2, min_clients=2), None)
    assert [(r["clients"], r["clients_failed"]) for r in records] == [(3, 1), (3, 1)]
    with pytest.raises(
        RoundFailedError,
        match=r"round 1 failed: only 2 of its 3 clients have usable data.*dropped b: DataError",
    ):
        run(process, flaky, loop_config(2, min_clients=3), checkpointer)
    assert list_checkpoints(str(tmp_path)) == []


def test_callbacks_get_the_global_weights_before_any_round_end(process, data):
    calls = []

    class Recorder(Callback):
        def __init__(self, name):
            self.name = name

        def on_round_trained(self, record, global_weights):
            record[self.name] = len(global_weights.trainable)
            calls.append(("trained", self.name, record["round"]))

        def on_round_end(self, record):
            calls.append(
                ("end", self.name, record["round"], record.get("first"), record.get("second"))
            )

    state = process.initialize()
    _, records = run_rounds(
        process,
        data,
        FixedSampler(),
        loop_config(1),
        state,
        [Recorder("first"), Recorder("second")],
    )
    assert calls == [
        ("trained", "first", 1),
        ("trained", "second", 1),
        ("end", "first", 1, 2, 2),
        ("end", "second", 1, 2, 2),
    ]
    assert records[0]["first"] == 2


# --- secure aggregation: drops before masking, and sums that cannot be unmasked ---------


def secure_fed_avg(model, dropout=0.0):
    """FedAvg whose weighted values go through a secure sum for a sampled cohort of 3
    (its threshold: 2 of each client's 3 shareholders)."""
    value_sum = SecureSumFactory(100.0, bits=40, max_clients=3, cohort_size=3, dropout=dropout)
    return build_weighted_fed_avg(model, SGD(0.1), model_aggregator=MeanFactory(value_sum))


def one_dropout_a_round():
    return StragglerSimulator(StragglerConfig(dropout=0.34), 1, False, 3)  # round(0.34 * 3) = 1


def test_a_straggler_dropout_is_a_drop_before_masking_that_the_server_recovers(tiny_model, data):
    state, records = run(
        secure_fed_avg(tiny_model), data, loop_config(1), None, stragglers=one_dropout_a_round()
    )
    (record,) = records
    protocol = record["aggregator"]["mean_value"]["protocol"]
    assert record["client_work"]["dropped"] == 1 and record["clients"] == 2
    # 3 sampled clients shared keys; 1 vanished before its masked input: its private key
    # is reconstructed and the masks it left with the 2 others removed.
    assert (protocol["clients"], protocol["dropped_after_sharing"], protocol["survivors"]) == (
        3,
        1,
        2,
    )
    assert (protocol["keys_reconstructed"], protocol["pairwise_masks_removed"]) == (1, 2)
    assert protocol["failed"] == 0 and record["clients_failed"] == 0
    plain = build_weighted_fed_avg(tiny_model, SGD(0.1))
    reference, _ = run(plain, data, loop_config(1), None, stragglers=one_dropout_a_round())
    for have, want in zip(
        state.global_model_weights.trainable, reference.global_model_weights.trainable
    ):
        np.testing.assert_allclose(have, want, atol=1e-6)  # the survivors' mean


def test_a_secure_sum_that_cannot_be_unmasked_counts_its_clients_and_fails_the_round(
    tiny_model, data, tmp_path
):
    # round(0.5 * 3) = 2 clients vanish after their masked input: 1 shareholder is left
    # of the 2 needed, so no client's update survives.
    checkpointer = Checkpointer(str(tmp_path), CheckpointConfig(every=10, keep=3))
    with pytest.raises(RoundFailedError, match="round 1 failed: only 0 of its 3 clients survived"):
        run(secure_fed_avg(tiny_model, dropout=0.5), data, loop_config(2), checkpointer)
    assert list_checkpoints(str(tmp_path)) == []


@pytest.mark.parametrize(
    "aggregator, failed",
    [
        ({"mean_value": {"protocol": {"failed": 0, "survivors": 4}}}, 1),
        ({"mean_value": {"protocol": {"failed": 1, "survivors": 3}}}, 1 + 3),
        # a secure mean's value and weight sums lose the same clients once
        (
            {
                "mean_value": {"protocol": {"failed": 1, "survivors": 3}},
                "mean_weight": {"protocol": {"failed": 1, "survivors": 3}},
            },
            1 + 3,
        ),
    ],
    ids=["unmasked", "failed", "value-and-weight-sums-failed"],
)
def test_clients_of_a_lost_secure_sum_count_as_failed(aggregator, failed):
    metrics = {"client_work": {"train": {}, "training_failed": 1}, "aggregator": aggregator}
    assert round_record(1, metrics, 4, 0.0)["clients_failed"] == failed
