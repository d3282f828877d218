"""Clients failing at random: the plan is a function of (seed, round, client id),
every injected fault is dropped and counted, and the counts in `metrics.jsonl`
equal the injected ones over a long run."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from fedrun.app.schema import validate
from fedrun.cli import compose_config
from fedrun.config.errors import ConfigError
from fedrun.data.cohort import CohortData
from fedrun.runtime.fault_injection import (
    FaultConfig,
    FaultInjectingRuntime,
    InjectedFault,
    planned_faults,
)
from fedrun.runtime.trainer import ClientOutputs

IDS = [f"client_{k}" for k in range(50)]


def test_plan_is_a_function_of_seed_round_and_client():
    config = FaultConfig(raises=0.3, non_finite=0.2)
    first = planned_faults(config, 7, 3, IDS)
    assert first == planned_faults(config, 7, 3, list(reversed(IDS)))  # not of the cohort's order
    assert planned_faults(config, 7, 3, IDS[:10]).raises == first.raises & set(
        IDS[:10]
    )  # nor of who else is sampled
    assert first != planned_faults(config, 7, 4, IDS) and first != planned_faults(config, 8, 3, IDS)
    assert not first.raises & first.nan


def test_rates_are_the_configured_probabilities():
    config = FaultConfig(raises=0.05, non_finite=0.02)
    plans = [planned_faults(config, 0, r, IDS) for r in range(1, 401)]  # 20,000 draws
    raised, nan = sum(len(p.raises) for p in plans) / 20000, sum(len(p.nan) for p in plans) / 20000
    assert raised == pytest.approx(0.05, abs=0.006) and nan == pytest.approx(0.02, abs=0.004)


def test_rates_above_one_in_total_are_a_config_error():
    with pytest.raises(ConfigError, match="faults"):
        validate(compose_config(["faults={raises: 0.7, non_finite: 0.5}"]))


class ZeroRuntime:
    """Stands in for a runtime: every client's update is zeros."""

    vectorize = False

    def train(self, trainer, weights, cohort, inputs):
        count = cohort.num_clients
        return ClientOutputs(
            [tf.zeros([count, 2, 3]), tf.zeros([count, 3])],
            tf.ones([count]),
            {},
            tf.ones([count], tf.int32),
            (),
        )


def cohort_of(client_ids, round_num):
    return CohortData(
        tuple(client_ids),
        {},
        tf.zeros([len(client_ids), 1, 1], tf.int64),
        tf.zeros([len(client_ids), 1, 1]),
        round_num,
        0,
    )


def test_wrapper_raises_for_a_raising_client_and_poisons_nan_rows():
    config = FaultConfig(raises=0.3, non_finite=0.3)
    round_num = next(r for r in range(1, 100) if all(planned_faults(config, 0, r, IDS[:8])))
    plan = planned_faults(config, 0, round_num, IDS[:8])
    runtime = FaultInjectingRuntime(ZeroRuntime(), config, 0)
    with pytest.raises(
        InjectedFault, match=f"client {sorted(plan.raises)[0]} raises in round {round_num}"
    ):
        runtime.train(None, None, cohort_of(IDS[:8], round_num), None)
    healthy = [cid for cid in IDS[:8] if cid not in plan.raises]
    outputs = runtime.train(None, None, cohort_of(healthy, round_num), None)
    for leaf in outputs.update:
        rows = np.isnan(leaf.numpy().reshape(len(healthy), -1))
        assert [bool(r.all()) for r in rows] == [cid in plan.nan for cid in healthy]
        assert not any(r.any() and not r.all() for r in rows)  # a poisoned client is NaN throughout


def run_with_faults(mnist5k_file, run_dir, rounds, raises, nan):
    from fedrun.run import run

    overrides = [
        f"rounds={rounds}",
        f"dataset.path={mnist5k_file}",
        "dataset.num_clients=10",
        "dataset.central_test_size=50",
        "clients_per_round=4",
        "preprocess.epochs=1",
        "eval_every=0",
        "progress=false",
        "checkpoint.every=0",
        f"faults={{raises: {raises}, non_finite: {nan}}}",
    ]
    plain = compose_config(overrides)
    run(plain, str(run_dir))
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    from fedrun.run import build

    cohort = list(build(plain).data.train.client_ids[:4])  # sampling=fixed: the first 4 every round
    return records, cohort


def assert_counts_equal_injected(records, cohort, rounds, config):
    assert [r["round"] for r in records] == list(range(1, rounds + 1))
    injected_raise = injected_nan = 0
    for record in records:
        plan = planned_faults(config, 0, record["round"], cohort)
        assert record["client_work"]["training_failed"] == len(plan.raises), record["round"]
        assert record["client_work"]["update_non_finite"] == len(plan.nan), record["round"]
        assert record["clients_failed"] == len(plan.raises) + len(plan.nan)
        assert record["finalizer"]["update_non_finite"] == 0  # the aggregate never saw a NaN
        injected_raise, injected_nan = (
            injected_raise + len(plan.raises),
            injected_nan + len(plan.nan),
        )
    return injected_raise, injected_nan


@pytest.mark.slow
def test_injected_faults_are_dropped_and_counted(mnist5k_file, tmp_path):
    config = FaultConfig(raises=0.2, non_finite=0.1)
    records, cohort = run_with_faults(mnist5k_file, tmp_path / "run", 12, 0.2, 0.1)
    raised, nan = assert_counts_equal_injected(records, cohort, 12, config)
    assert raised > 0 and nan > 0


# `make chaos` runs 200 rounds; the slow suite a bounded 40.
FAULT_ROUNDS = int(os.environ.get("FEDRUN_FAULT_ROUNDS", "40"))


@pytest.mark.slow
def test_rounds_of_random_faults_all_counted(mnist5k_file, tmp_path):
    config = FaultConfig(raises=0.05, non_finite=0.02)
    records, cohort = run_with_faults(mnist5k_file, tmp_path / "run", FAULT_ROUNDS, 0.05, 0.02)
    raised, nan = assert_counts_equal_injected(records, cohort, FAULT_ROUNDS, config)
    assert raised + nan > 0  # 0.28 faulty clients a round are expected
    print(
        f"{FAULT_ROUNDS} rounds: {raised} raising and {nan} NaN client updates injected, "
        "all dropped and counted"
    )
