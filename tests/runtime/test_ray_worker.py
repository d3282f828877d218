"""The Ray actor's body, in-process: it rebuilds the run from the plain config and
trains its share exactly as the sequential runtime trains those clients."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from fedrun.data.cohort import build_cohort, build_eval_cohort
from fedrun.runtime.base import client_seeds
from fedrun.runtime.local import SequentialRuntime
from fedrun.runtime.ray import join_shares
from fedrun.runtime.ray_worker import ClientWorker, ScheduleMismatch, to_numpy
from fedrun.runtime.trainer import RoundInputs
from tests.runtime.conftest import compose_plain

ROUND = 3


@pytest.fixture(scope="module")
def setup(ray_driver_run):
    built = ray_driver_run
    config = built.config
    ids = built.sampler.sample(
        built.data.train.client_ids,
        config.clients_per_round,
        ROUND,
        config.seed,
        built.data.train.num_examples,
    )
    cohort = build_cohort(built.data.train, ids, config.preprocess, config.seed, ROUND)
    inputs = RoundInputs(
        tf.constant(0.05, tf.float32), (), (), client_seeds(config.seed, ROUND, ids)
    )
    rng = np.random.default_rng(0)
    weights = built.process.get_model_weights(built.process.initialize())
    weights = tf.nest.map_structure(
        lambda w: tf.constant(rng.normal(size=w.shape).astype(np.float32) * 0.1), weights
    )
    worker = ClientWorker(
        compose_plain(["runtime=ray", "runtime.num_cpus=2"]), {"type": "sequential"}
    )
    return built, cohort, inputs, weights, worker


def run_shares(worker, requests, weights, steps=()):
    return join_shares(
        [worker.run_share(r, to_numpy(weights), steps).outputs for r in requests], requests
    )


def test_shares_cover_the_cohort_with_their_clients_inputs(setup):
    built, cohort, inputs, _, _ = setup
    requests = built.runtime.share_requests("train", built.runtime.trainers[0], cohort, inputs)
    assert len(requests) == 2
    assert sorted(p for r in requests for p in r.positions) == [0, 1, 2, 3]
    seeds, mask = inputs.seeds.numpy(), cohort.mask.numpy()
    for request in requests:
        rows = list(request.positions)
        assert request.cohort_ids == cohort.client_ids
        np.testing.assert_array_equal(request.inputs.seeds, seeds[rows])
        np.testing.assert_array_equal(request.mask, mask[rows])


def test_training_shares_matches_sequential(setup):
    built, cohort, inputs, weights, worker = setup
    trainer = built.runtime.trainers[0]
    expected = to_numpy(SequentialRuntime().train(trainer, weights, cohort, inputs))
    got = run_shares(
        worker, built.runtime.share_requests("train", trainer, cohort, inputs), weights
    )
    for want, have in zip(tf.nest.flatten(expected), tf.nest.flatten(got)):
        np.testing.assert_allclose(have, want, rtol=1e-5, atol=1e-6)


def test_evaluation_shares_match_sequential(setup):
    built, _, _, weights, worker = setup
    trainer = built.runtime.trainers[-1]
    ids = list(built.data.test.client_ids)[:4]
    cohort = build_eval_cohort(built.data.test, ids, built.config.preprocess.eval_batch_size)
    expected = to_numpy(SequentialRuntime().evaluate(trainer, weights, cohort))
    got = run_shares(worker, built.runtime.share_requests("evaluate", trainer, cohort), weights)
    for want, have in zip(tf.nest.flatten(expected), tf.nest.flatten(got)):
        np.testing.assert_allclose(have, want, rtol=1e-5, atol=1e-6)


def test_batches_not_rebuildable_from_seed_round_and_id_are_refused(setup):
    built, cohort, inputs, weights, worker = setup
    request = built.runtime.share_requests("train", built.runtime.trainers[0], cohort, inputs)[0]
    mask = request.mask.copy()
    mask[0, 0, 0] = 0.0
    with pytest.raises(ScheduleMismatch, match="rebuilds each client's batches"):
        worker.run_share(dataclasses.replace(request, mask=mask), to_numpy(weights))


def test_a_trainer_the_worker_did_not_build_is_refused(setup):
    built, cohort, inputs, weights, worker = setup
    request = built.runtime.share_requests("train", built.runtime.trainers[0], cohort, inputs)[0]
    with pytest.raises(RuntimeError, match="driver and worker built different runs"):
        worker.run_share(
            dataclasses.replace(request, trainer_signature=("other.Rule", True)), to_numpy(weights)
        )


def test_dropped_share_becomes_zero_rows(setup):
    built, cohort, inputs, weights, worker = setup
    requests = built.runtime.share_requests("train", built.runtime.trainers[0], cohort, inputs)
    result = worker.run_share(requests[0], to_numpy(weights))
    assert result.seconds > 0
    joined = join_shares([result.outputs, None], requests)
    kept, dropped = list(requests[0].positions), list(requests[1].positions)
    assert joined.num_examples.shape == (4,)
    assert np.all(joined.num_examples[dropped] == 0) and np.all(joined.num_examples[kept] > 0)
    assert all(np.all(u[dropped] == 0) and np.any(u[kept] != 0) for u in joined.update)
    with pytest.raises(RuntimeError, match="every Ray worker died twice"):
        join_shares([None, None], requests)
