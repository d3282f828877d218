"""Failing clients are dropped from their round and counted: data that raises,
training that raises, updates with NaN/Inf; the round fails only when none is left."""

import numpy as np
import pytest
import tensorflow as tf

from fedrun.data.client_data import ArrayClientData
from fedrun.data.cohort import build_cohort
from fedrun.data.errors import DataError
from fedrun.data.preprocess import PreprocessConfig
from fedrun.learning.algorithms.fedavg import build_unweighted_fed_avg, build_weighted_fed_avg
from fedrun.learning.faults import (
    RoundFailedError,
    build_cohort_dropping_failures,
    finite_clients,
    train_dropping_failures,
)
from fedrun.optimizers import SGD
from fedrun.runtime.local import SequentialRuntime, VectorizedRuntime
from fedrun.runtime.trainer import no_inputs
from tests.conftest import make_arrays

CONFIG = PreprocessConfig(epochs=1, batch_size=5, shuffle_buffer=0, flatten=False)
IDS = ["a", "b", "c"]


def client_data(fault=None):
    """Clients a, b, c of 10 examples; `fault` spoils client b's examples."""
    arrays = make_arrays(30)
    if fault == "nan":
        arrays["x"][10:20] = np.nan
    elif fault == "inf":
        arrays["x"][12] = np.inf
    elif fault == "bad_label":  # sparse cross-entropy raises on labels outside [0, 3)
        arrays["y"][10:20] = 7
    return ArrayClientData(
        arrays, {cid: np.arange(10 * k, 10 * k + 10) for k, cid in enumerate(IDS)}
    )


class FlakyClientData(ArrayClientData):
    """Client data whose `broken` clients raise when read."""

    def __init__(self, broken):
        base = client_data()
        super().__init__(base.arrays, {cid: base.indices_for(cid) for cid in IDS})
        self.broken = set(broken)

    def arrays_for(self, client_id):
        if client_id in self.broken:
            raise DataError("clients.h5", "truncated record", client_id)
        return super().arrays_for(client_id)

    def cohort_pool(self, client_ids):
        for client_id in client_ids:  # reads every client, as file-backed sources do
            self.arrays_for(client_id)
        return super().cohort_pool(client_ids)


RUNTIMES = ["vectorized", "sequential"]


@pytest.fixture(scope="module")
def processes(tiny_model):
    """One FedAvg process per runtime, shared so each traces its functions once."""
    runtimes = {"vectorized": VectorizedRuntime(), "sequential": SequentialRuntime()}
    return {
        name: build_weighted_fed_avg(tiny_model, SGD(0.1), runtime=rt)
        for name, rt in runtimes.items()
    }


def one_round(process, data, ids=IDS):
    return process.next(process.initialize(), build_cohort(data, ids, CONFIG, seed=0, round_num=1))


@pytest.fixture(scope="module")
def without_b(processes):
    """The round trained on clients a and c only."""
    return {
        name: one_round(process, client_data(), ["a", "c"]) for name, process in processes.items()
    }


# ------------------------------------------------------------------ shapes
def test_finite_clients_is_one_flag_per_client():
    update = [tf.constant([[1.0, 2.0], [np.nan, 0.0], [0.0, 0.0]]), tf.constant([1.0, 2.0, np.inf])]
    flags = finite_clients(update)
    assert flags.shape == (3,) and flags.dtype == tf.bool
    assert flags.numpy().tolist() == [True, False, False]


# ------------------------------------------------------------------ numbers
@pytest.mark.parametrize("fault", ["nan", "inf"], ids=["nan", "inf"])
@pytest.mark.parametrize("runtime", RUNTIMES, ids=RUNTIMES)
def test_non_finite_update_is_dropped_and_counted(processes, without_b, runtime, fault):
    spoiled = one_round(processes[runtime], client_data(fault))
    clean = without_b[runtime]
    work = spoiled.metrics["client_work"]
    assert int(work["update_non_finite"]) == 1 and int(work["training_failed"]) == 0
    assert int(work["train"]["num_examples"]) == 20
    assert int(spoiled.metrics["finalizer"]["update_non_finite"]) == 0  # the aggregate was applied
    for dropped, reference in zip(
        spoiled.state.global_model_weights.trainable, clean.state.global_model_weights.trainable
    ):
        np.testing.assert_allclose(dropped.numpy(), reference.numpy(), rtol=1e-6, atol=1e-7)


def test_unweighted_mean_divides_by_the_survivors(tiny_model):
    # Each of the 2 surviving clients weighs 1/2, not 1/3 of the cohort sampled.
    process = build_unweighted_fed_avg(tiny_model, SGD(0.1), runtime=VectorizedRuntime())
    spoiled = one_round(process, client_data("nan"))
    clean = one_round(process, client_data(), ["a", "c"])
    assert int(spoiled.metrics["client_work"]["update_non_finite"]) == 1
    for dropped, reference in zip(
        spoiled.state.global_model_weights.trainable, clean.state.global_model_weights.trainable
    ):
        np.testing.assert_allclose(dropped.numpy(), reference.numpy(), rtol=1e-6, atol=1e-7)


@pytest.fixture(scope="module")
def graph_processes(tiny_model):
    """FedAvg processes run as TensorFlow graphs (no XLA), where sparse cross-entropy
    raises on a label out of range."""
    runtimes = {
        "vectorized": VectorizedRuntime(jit_compile=False),
        "sequential": SequentialRuntime(jit_compile=False),
    }
    return {
        name: build_weighted_fed_avg(tiny_model, SGD(0.1), runtime=rt)
        for name, rt in runtimes.items()
    }


@pytest.mark.parametrize("runtime", RUNTIMES, ids=RUNTIMES)
def test_client_whose_training_raises_is_dropped_and_counted(graph_processes, runtime, caplog):
    process = graph_processes[runtime]
    spoiled = one_round(process, client_data("bad_label"))
    clean = one_round(process, client_data(), ["a", "c"])
    work = spoiled.metrics["client_work"]
    assert int(work["training_failed"]) == 1 and int(work["update_non_finite"]) == 0
    assert "dropping client b" in caplog.text and "label value of 7" in caplog.text
    for dropped, reference in zip(
        spoiled.state.global_model_weights.trainable, clean.state.global_model_weights.trainable
    ):
        np.testing.assert_allclose(dropped.numpy(), reference.numpy(), rtol=1e-6, atol=1e-7)


class LosingRuntime(SequentialRuntime):
    """Loses client b's result every round, as Ray does when b's worker dies twice."""

    def take_lost_clients(self) -> frozenset[str]:
        return frozenset({"b"})


def test_clients_the_runtime_lost_are_dropped_and_counted(tiny_model, without_b):
    process = build_weighted_fed_avg(tiny_model, SGD(0.1), runtime=LosingRuntime())
    lost = one_round(process, client_data())
    work = lost.metrics["client_work"]
    assert int(work["training_failed"]) == 1 and int(work["train"]["num_examples"]) == 20
    for dropped, reference in zip(
        lost.state.global_model_weights.trainable,
        without_b["sequential"].state.global_model_weights.trainable,
    ):
        np.testing.assert_allclose(dropped.numpy(), reference.numpy(), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("runtime", RUNTIMES, ids=RUNTIMES)
def test_label_out_of_range_under_xla_is_dropped_as_non_finite(processes, without_b, runtime):
    """XLA's sparse cross-entropy yields NaN instead of raising: the update is dropped all the same."""
    spoiled = one_round(processes[runtime], client_data("bad_label"))
    work = spoiled.metrics["client_work"]
    assert int(work["update_non_finite"]) == 1 and int(work["training_failed"]) == 0
    for dropped, reference in zip(
        spoiled.state.global_model_weights.trainable,
        without_b[runtime].state.global_model_weights.trainable,
    ):
        np.testing.assert_allclose(dropped.numpy(), reference.numpy(), rtol=1e-6, atol=1e-7)


def test_round_fails_when_every_update_is_non_finite(processes):
    arrays = make_arrays(30)
    arrays["x"][:] = np.nan
    data = ArrayClientData(
        arrays, {cid: np.arange(10 * k, 10 * k + 10) for k, cid in enumerate(IDS)}
    )
    with pytest.raises(RoundFailedError, match="round 1 failed: every one of its 3 clients"):
        one_round(processes["vectorized"], data)


# ------------------------------------------------------------------ searching
def test_data_failures_are_found_and_dropped(caplog):
    cohort, failed = build_cohort_dropping_failures(
        FlakyClientData({"b"}), IDS, CONFIG, seed=0, round_num=3
    )
    assert list(failed) == ["b"] and "truncated record" in failed["b"]
    assert cohort.client_ids == ("a", "c") and cohort.round_num == 3
    assert "dropping client b, its data raised DataError" in caplog.text


def test_round_fails_when_every_client_data_raises():
    with pytest.raises(
        RoundFailedError, match=r"data of every one of its 3 clients raised; first \(a\)"
    ):
        build_cohort_dropping_failures(FlakyClientData(set(IDS)), IDS, CONFIG, seed=0, round_num=2)


def fake_train(fail_when):
    """A stand-in for a runtime's train: one row per client, raising when `fail_when(ids)`."""

    def train(cohort, inputs):
        if fail_when(cohort.client_ids):
            raise ValueError(f"cannot train {cohort.client_ids}")
        return tf.constant([[float(ord(cid))] for cid in cohort.client_ids])

    return train


def test_training_failures_leave_zero_rows_and_a_mask():
    cohort = build_cohort(client_data(), IDS, CONFIG, seed=0, round_num=1)
    trained = train_dropping_failures(fake_train(lambda ids: "b" in ids), cohort, no_inputs(0.1, 3))
    assert trained.raised.tolist() == [False, True, False]
    assert trained.outputs.numpy().ravel().tolist() == [ord("a"), 0.0, ord("c")]


def test_failure_no_single_client_reproduces_is_raised_as_is():
    cohort = build_cohort(client_data(), IDS, CONFIG, seed=0, round_num=1)
    with pytest.raises(ValueError, match="cannot train"):
        train_dropping_failures(fake_train(lambda ids: len(ids) > 1), cohort, no_inputs(0.1, 3))
