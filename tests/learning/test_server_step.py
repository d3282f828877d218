"""The compiled server step: equal to the eager aggregator and finalizer, round after round."""

import collections

import numpy as np
import pytest
import tensorflow as tf

from fedrun.aggregators.clipping import ClippingFactory
from fedrun.aggregators.dp import DPFactory
from fedrun.aggregators.mean import MeanFactory
from fedrun.aggregators.norms import AdaptiveNormParams
from fedrun.aggregators.secure import SecureSumFactory
from fedrun.aggregators.zeroing import ZeroingFactory
from fedrun.core.placements import AtClients
from fedrun.core.processes import MeasuredProcess
from fedrun.learning.finalizer import build_apply_optimizer_finalizer
from fedrun.learning.schedules import RoundSchedule
from fedrun.learning.server_step import CompiledServerStep, compiled_server_step
from fedrun.models.functional import ModelWeights
from fedrun.optimizers import SGD, Adam
from fedrun.runtime.probe import dry_run

SPECS = ModelWeights([tf.TensorSpec([4, 3]), tf.TensorSpec([3])], [])
WEIGHT_SPEC = tf.TensorSpec([], tf.float32)
CLIENTS = 5

TREES = {
    "mean": lambda: MeanFactory(),
    "clipping_fixed": lambda: ClippingFactory(0.5, MeanFactory()),
    "clipping_adaptive": lambda: ClippingFactory(
        AdaptiveNormParams(target_quantile=0.5, learning_rate=0.2, initial_norm=0.3), MeanFactory()
    ),
    "zeroing_under_clipping": lambda: ZeroingFactory(3.0, ClippingFactory(1.0, MeanFactory())),
    "dp_adaptive": lambda: DPFactory(
        0.3, CLIENTS, AdaptiveNormParams(initial_norm=0.4), sampling_rate=0.1, seed=3
    ),
}


def weights() -> ModelWeights:
    rng = np.random.default_rng(0)
    return ModelWeights(
        [tf.constant(rng.normal(size=s.shape).astype(np.float32)) for s in SPECS.trainable], []
    )


def client_updates(round_num: int, count: int = CLIENTS) -> tuple[AtClients, AtClients]:
    rng = np.random.default_rng(round_num)
    update = [
        tf.constant(rng.normal(scale=0.6, size=[count, *s.shape]).astype(np.float32))
        for s in SPECS.trainable
    ]
    weight = tf.constant(rng.integers(1, 50, size=count).astype(np.float32))
    return AtClients(update, count), AtClients(weight, count)


def create(tree: str, weighted: bool):
    factory = TREES[tree]()
    return (
        factory.create(SPECS.trainable, WEIGHT_SPEC)
        if weighted
        else factory.create(SPECS.trainable)
    )


def assert_nests_close(actual, expected):
    tf.nest.assert_same_structure(actual, expected)
    for a, e in zip(tf.nest.flatten(actual), tf.nest.flatten(expected)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(e), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("weighted", [True, False], ids=["weighted", "unweighted"])
@pytest.mark.parametrize("tree", list(TREES), ids=list(TREES))
def test_compiled_step_equals_eager_over_rounds(tree, weighted):
    aggregator = create(tree, weighted)
    finalizer = build_apply_optimizer_finalizer(Adam(0.05, 0.9, 0.999, 1e-7, 0.0, True), SPECS)
    step = compiled_server_step(aggregator, finalizer)
    assert isinstance(step, CompiledServerStep)
    eager_state = compiled_state = (aggregator.initialize(), finalizer.initialize(), weights())
    for round_num in range(1, 4):
        updates, update_weights = client_updates(round_num)
        agg_state, fin_state, model = eager_state
        extra = [update_weights] if weighted else []
        aggregated = aggregator.next(agg_state, updates, *extra)
        finalized = finalizer.next(fin_state, model, aggregated.result, round_num)
        compiled_agg, compiled_fin = step(
            *compiled_state, updates, update_weights if weighted else None, round_num
        )
        assert_nests_close(compiled_agg.measurements, aggregated.measurements)
        assert_nests_close(compiled_agg.result.value, aggregated.result.value)
        assert_nests_close(compiled_fin.measurements, finalized.measurements)
        assert_nests_close(compiled_fin.result.value, finalized.result.value)
        assert_nests_close(compiled_agg.state, aggregated.state)
        assert_nests_close(compiled_fin.state, finalized.state)
        eager_state = (aggregated.state, finalized.state, finalized.result.value)
        compiled_state = (compiled_agg.state, compiled_fin.state, compiled_fin.result.value)
    assert step._compiled.experimental_get_tracing_count() == 1  # one trace for every round


def test_traced_once_per_cohort_size():
    aggregator = create("clipping_fixed", True)
    finalizer = build_apply_optimizer_finalizer(SGD(1.0), SPECS)
    step = compiled_server_step(aggregator, finalizer)
    state = (aggregator.initialize(), finalizer.initialize(), weights())
    for round_num, count in enumerate([5, 5, 3, 5, 3], start=1):
        updates, update_weights = client_updates(round_num, count)
        step(*state, updates, update_weights, round_num)
    assert step._compiled.experimental_get_tracing_count() == 2


def test_dry_run_adds_no_trace():
    aggregator = create("mean", True)
    finalizer = build_apply_optimizer_finalizer(SGD(1.0), SPECS)
    step = compiled_server_step(aggregator, finalizer)
    updates, update_weights = client_updates(1)
    with dry_run():
        step(aggregator.initialize(), finalizer.initialize(), weights(), updates, update_weights, 1)
    assert step._compiled.experimental_get_tracing_count() == 0


def test_schedule_reaches_the_compiled_step():
    # SGD on a mean of identical updates u: w1 = w0 - lr(round) * u.
    schedule = RoundSchedule(1.0, lambda r: 0.5 ** (r - 1))
    aggregator = create("mean", True)
    finalizer = build_apply_optimizer_finalizer(SGD(1.0), SPECS, schedule)
    step = compiled_server_step(aggregator, finalizer)
    start = weights()
    update = [tf.ones([CLIENTS, *s.shape]) for s in SPECS.trainable]
    for round_num, rate in [(1, 1.0), (3, 0.25)]:
        _, finalized = step(
            aggregator.initialize(),
            finalizer.initialize(),
            start,
            AtClients(update, CLIENTS),
            AtClients(tf.ones([CLIENTS]), CLIENTS),
            round_num,
        )
        for new, old in zip(finalized.result.value.trainable, start.trainable):
            np.testing.assert_allclose(new.numpy(), old.numpy() - rate, rtol=1e-6)
        assert float(finalized.state["learning_rate"]) == rate
    assert step._compiled.experimental_get_tracing_count() == 1


def test_non_finite_aggregate_is_not_applied():
    aggregator = create("mean", True)
    finalizer = build_apply_optimizer_finalizer(SGD(0.1, momentum=0.9), SPECS)
    step = compiled_server_step(aggregator, finalizer)
    start, fin_state = weights(), finalizer.initialize()
    fin_state = {**fin_state, "momentum": [tf.ones(s.shape) for s in SPECS.trainable]}
    updates, update_weights = client_updates(1)
    poisoned = AtClients([updates.value[0] * np.nan, updates.value[1]], CLIENTS)
    _, finalized = step(aggregator.initialize(), fin_state, start, poisoned, update_weights, 1)
    assert int(finalized.measurements["update_non_finite"]) == 1
    assert_nests_close(finalized.result.value, start)
    assert_nests_close(finalized.state, fin_state)
    _, applied = step(aggregator.initialize(), fin_state, start, updates, update_weights, 2)
    assert int(applied.measurements["update_non_finite"]) == 0
    assert not np.allclose(applied.result.value.trainable[0], start.trainable[0])


def test_secure_sum_and_other_finalizers_stay_eager():
    secure = MeanFactory(SecureSumFactory(8.0, max_clients=10)).create(SPECS.trainable, WEIGHT_SPEC)
    finalizer = build_apply_optimizer_finalizer(SGD(1.0), SPECS)
    assert not secure.traceable
    assert compiled_server_step(secure, finalizer) is None
    other = MeasuredProcess(lambda: (), lambda *args: None)
    assert compiled_server_step(create("mean", True), other) is None


@pytest.mark.parametrize("tree", list(TREES), ids=list(TREES))
def test_library_trees_declare_themselves_traceable(tree):
    assert create(tree, True).traceable and create(tree, False).traceable


def test_measurement_keys_unchanged():
    aggregator = create("clipping_fixed", True)
    finalizer = build_apply_optimizer_finalizer(SGD(1.0), SPECS)
    updates, update_weights = client_updates(1)
    compiled_agg, compiled_fin = compiled_server_step(aggregator, finalizer)(
        aggregator.initialize(), finalizer.initialize(), weights(), updates, update_weights, 1
    )
    assert list(compiled_agg.measurements) == ["clipping_norm", "clipped_count", "clipping"]
    assert compiled_fin.measurements == collections.OrderedDict(
        update_non_finite=compiled_fin.measurements["update_non_finite"]
    )
