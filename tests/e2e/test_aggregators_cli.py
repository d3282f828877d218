"""Aggregator trees end to end through the CLI: secure and DP runs train and log
every measurement (metrics.jsonl and TensorBoard), the state's type signature is
printed, a user's factory runs from YAML, bad trees stop before training."""

import json

import dp_accounting
import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.util.tensor_util import make_ndarray

from fedrun.training.metrics import flatten
from tests.conftest import run_fedrun

SMALL = ["rounds=2", "dataset.num_clients=12", "clients_per_round=6", "preprocess.epochs=1"]


def records(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def train_scalars(run_dir):
    acc = EventAccumulator(str(run_dir / "tb" / "train"), size_guidance={"tensors": 0})
    acc.Reload()
    return {
        tag: [float(make_ndarray(e.tensor_proto)) for e in acc.Tensors(tag)]
        for tag in acc.Tags()["tensors"]
    }


def train(tmp_path_factory, *overrides):
    run_dir = tmp_path_factory.mktemp("run")
    result = run_fedrun([f"hydra.run.dir={run_dir}", "progress=false", *SMALL, *overrides])
    assert result.returncode == 0, result.stderr
    return run_dir, result


@pytest.fixture(scope="module")
def secure_run(tmp_path_factory):
    return train(tmp_path_factory, "aggregator=secure", "aggregator.value_sum.inner.dropout=0.2")


@pytest.fixture(scope="module")
def dp_run(tmp_path_factory):
    return train(tmp_path_factory, "aggregator=dp_adaptive", "print_signature=true")


def assert_every_measurement_in_tensorboard(run_dir):
    scalars = train_scalars(run_dir)
    for record in records(run_dir):
        for name, value in flatten({"aggregator": record["aggregator"]}):
            assert scalars[name][record["round"] - 1] == pytest.approx(value, rel=1e-6), name


@pytest.mark.slow
def test_secure_run_logs_the_tree_measurements(secure_run):
    run_dir, _ = secure_run
    logged = records(run_dir)
    assert [r["round"] for r in logged] == [1, 2]
    for record in logged:
        value_sum = record["aggregator"]["mean_value"]
        assert value_sum["clipping_norm"] == 500.0
        assert set(value_sum) == {"clipping_norm", "clipped_count", "clipping"}
        assert set(value_sum["clipping"]) == {
            "secure_upper_clipped_count",
            "secure_lower_clipped_count",
            "protocol",
        }
        protocol = value_sum["clipping"][
            "protocol"
        ]  # 6 clients, 1 vanishes after its masked input (round(0.2 * 6))
        assert (
            protocol["clients"],
            protocol["survivors"],
            protocol["dropped_after_input"],
            protocol["failed"],
        ) == (6, 6, 1, 0)
        assert (
            protocol["unmasking_clients"] == 5
            and protocol["reconstructions"] == 6
            and protocol["threshold"] == 4
        )
        assert protocol["bytes_up"] > protocol["bytes_down"] > 0 and protocol["server_seconds"] > 0
        assert record["train"]["loss"] > 0
    assert logged[1]["eval"]["centralized"]["accuracy"] > 0.2
    assert_every_measurement_in_tensorboard(run_dir)


@pytest.mark.slow
def test_dp_run_with_a_fixed_cohort_reports_full_participation_epsilon_each_round(dp_run):
    run_dir, result = dp_run
    logged = records(run_dir)
    for round_num, record in enumerate(logged, start=1):
        accountant = dp_accounting.rdp.RdpAccountant()
        accountant.compose(dp_accounting.GaussianDpEvent(0.5), round_num)  # sampling=fixed: q = 1
        assert record["aggregator"]["epsilon_full_participation"] == pytest.approx(
            accountant.get_epsilon(1e-5), rel=1e-9
        )
        assert set(record["aggregator"]) == {
            "clipping_norm",
            "noise_stddev",
            "unclipped_fraction",
            "epsilon_full_participation",
        }
    console = result.stdout + result.stderr
    assert console.count("DP accounting: sampling=fixed") == 1 and "Set sampling=uniform" in console
    assert "failed to converge" not in console
    assert logged[0]["aggregator"]["clipping_norm"] == pytest.approx(0.1)
    assert logged[1]["aggregator"]["clipping_norm"] != pytest.approx(0.1)
    assert_every_measurement_in_tensorboard(run_dir)


@pytest.mark.slow
def test_signature_printer_shows_the_aggregator_state(dp_run):
    _, result = dp_run
    out = result.stdout
    assert (
        "aggregator=<\n    clipping_norm=<\n      estimate=float32\n    >,\n    seed=int64[2],\n    round_num=int64,"
        in out
    )
    assert out.index("aggregator=<") < out.index("Run directory:")


@pytest.mark.slow
def test_user_factory_from_yaml(tmp_path_factory):
    target = "tests.aggregators.example_factory.ExampleTaskFactory"
    run_dir, _ = train(
        tmp_path_factory,
        "allowed_targets=[tests.]",
        f"+aggregator.value_sum._target_={target}",
        f"+aggregator.value_sum.inner_factory._target_={target}",
    )
    # Outer and nested factory both scale by the round index t: the outer one measures
    # t * sum, the nested one t**2 * sum, of the same weighted updates.
    for round_num, record in enumerate(records(run_dir), start=1):
        outer = record["aggregator"]["mean_value"]
        assert len(outer["scaled_value"]) == 2  # the model's kernel and bias
        for outer_leaf, inner_leaf in zip(
            outer["scaled_value"], outer["example_task"]["scaled_value"]
        ):
            np.testing.assert_allclose(
                np.array(inner_leaf), round_num * np.array(outer_leaf), rtol=1e-5, atol=1e-5
            )


@pytest.mark.parametrize(
    "overrides, path",
    [
        (["aggregator.type=nope"], "aggregator.type"),
        (
            ["aggregator=secure", "aggregator.value_sum.inner.bits=3"],
            "aggregator.value_sum.inner.bits",
        ),
        (["aggregator=clipped_mean", "~aggregator.inner"], "aggregator.inner"),
    ],
    ids=["unknown-type", "bits-overflow", "missing-inner"],
)
def test_bad_tree_stops_before_training(tmp_path, overrides, path):
    result = run_fedrun([f"hydra.run.dir={tmp_path}", "rounds=1", *overrides])
    assert result.returncode != 0
    assert f"config error: {path}:" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "metrics.jsonl").exists()
