"""The per-round evaluator: federated evaluation through the runtime's own evaluation,
on clients' test splits (`federated`), the central set (`centralized`) and clients'
training data (`train`), against numpy."""

import numpy as np
import pytest

from fedrun.data.client_data import ArrayClientData, FederatedData
from fedrun.data.cohort import build_eval_cohort
from fedrun.learning.evaluation import build_fed_eval
from fedrun.runtime.trainer import LocalRule
from fedrun.training.evaluation import EvaluationCallback, Evaluator
from tests.learning.conftest import RUNTIME_IDS, RUNTIMES
from tests.learning.reference import softmax

TRAIN = {"a": np.arange(5), "b": np.arange(5, 8)}
TEST = {"a": np.arange(8, 10), "b": np.arange(10, 12)}


def numpy_metrics(problem, indices):
    x, y = problem.arrays["x"][indices].astype(np.float64), problem.arrays["y"][indices]
    p = softmax(x @ problem.w0.astype(np.float64) + problem.b0.astype(np.float64))
    return float(-np.log(p[np.arange(len(y)), y]).mean()), float((p.argmax(1) == y).mean())


@pytest.mark.parametrize("runtime", RUNTIMES, ids=RUNTIME_IDS)
def test_records_federated_centralized_and_train_against_numpy(tiny_model, tiny_problem, runtime):
    arrays = tiny_problem.arrays
    central = {k: v[8:12] for k, v in arrays.items()}
    data = FederatedData(
        "tiny", ArrayClientData(arrays, TRAIN), ArrayClientData(arrays, TEST), central, 3
    )
    trainer = runtime.make_trainer(tiny_model, None, LocalRule())
    evaluator = Evaluator(trainer, data, ["a", "b"], 2, runtime, train_client_ids=["a", "b"])
    results = evaluator(tiny_problem.weights())
    assert set(results) == {"federated", "centralized", "train"}
    for key, indices in (("federated", np.arange(8, 12)), ("centralized", np.arange(8, 12))):
        loss, accuracy = numpy_metrics(tiny_problem, indices)
        assert results[key]["loss"] == pytest.approx(loss, rel=1e-5)
        assert results[key]["accuracy"] == pytest.approx(accuracy)
        assert int(results[key]["num_examples"]) == 4
    loss, accuracy = numpy_metrics(tiny_problem, np.arange(8))
    assert results["train"]["loss"] == pytest.approx(loss, rel=1e-5)
    assert int(results["train"]["num_examples"]) == 8
    # The TFF-shaped process reports the same numbers.
    fed_eval = build_fed_eval(tiny_model, runtime, trainer)
    state = fed_eval.set_model_weights(fed_eval.initialize(), tiny_problem.weights())
    cohort = build_eval_cohort(data.test, ["a", "b"], 2)
    tff_metrics = fed_eval.next(state, cohort).metrics["client_work"]["eval"]
    assert float(tff_metrics["current_round_metrics"]["loss"]) == pytest.approx(
        results["federated"]["loss"], rel=1e-6
    )


@pytest.mark.parametrize(
    "eval_every, rounds, due",
    [(1, 3, [1, 2, 3]), (2, 5, [2, 4, 5]), (0, 3, [])],
    ids=["every-round", "every-second-and-last", "never"],
)
def test_callback_evaluates_when_due_and_records_eval(eval_every, rounds, due):
    seen = []

    def evaluate(weights):
        seen.append(weights)
        return {"federated": {"accuracy": weights}}

    callback = EvaluationCallback(evaluate, eval_every, rounds)
    records = [{"round": r, "round_seconds": 0.0} for r in range(1, rounds + 1)]
    for record in records:
        callback.on_round_trained(record, float(record["round"]))
    assert [r["round"] for r in records if "eval" in r] == due
    assert seen == [float(r) for r in due]
    assert all(
        r["eval"] == {"federated": {"accuracy": float(r["round"])}} for r in records if "eval" in r
    )
