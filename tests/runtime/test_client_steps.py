"""Client-side steps run where the clients trained: pairwise masks added in the
workers hide each client's update and cancel in the cohort's sum."""

import numpy as np
import tensorflow as tf

from fedrun.data.cohort import build_cohort
from fedrun.runtime.base import client_seeds
from fedrun.runtime.client_steps import (
    ClientStep,
    ClientStepContext,
    apply_client_steps,
    supports_client_steps,
)
from fedrun.runtime.local import SequentialRuntime
from fedrun.runtime.ray import join_shares
from fedrun.runtime.ray_worker import ClientWorker, to_numpy
from fedrun.runtime.trainer import RoundInputs
from tests.runtime.conftest import compose_plain


class PairwiseMask(ClientStep):
    """Adds `+m(i, j)` for partners after `i` and `-m(j, i)` for those before it."""

    def _mask(self, context, low, high, shape):
        return (
            np.random.default_rng([context.seed, context.round_num, low, high])
            .normal(size=shape)
            .astype(np.float32)
        )

    def apply(self, outputs, context):
        count = len(context.cohort_ids)
        update = [u.copy() for u in outputs.update]
        for row, i in enumerate(context.positions):
            for leaf in update:
                for j in range(count):
                    if j != i:
                        sign = 1.0 if i < j else -1.0
                        leaf[row] += sign * self._mask(
                            context, min(i, j), max(i, j), leaf.shape[1:]
                        )
        return outputs._replace(update=update)


class Scale(ClientStep):
    def __init__(self, factor):
        self.factor = factor

    def apply(self, outputs, context):
        return outputs._replace(update=[u * self.factor for u in outputs.update])


def test_context_names_the_share_clients():
    context = ClientStepContext(("a", "b", "c"), (2, 0), 1, 0)
    assert context.client_ids == ("c", "a")


def test_steps_apply_in_order():
    from fedrun.runtime.trainer import ClientOutputs

    outputs = ClientOutputs([np.ones((2, 3), np.float32)], np.ones(2), {}, np.ones(2), ())
    context = ClientStepContext(("a", "b"), (0, 1), 1, 0)
    got = apply_client_steps([Scale(2.0), Scale(3.0)], outputs, context)
    np.testing.assert_array_equal(got.update[0], np.full((2, 3), 6.0))


def test_ray_runtime_accepts_steps_and_local_runtimes_do_not(ray_driver_run):
    assert supports_client_steps(ray_driver_run.runtime)
    assert not supports_client_steps(SequentialRuntime())


def test_masks_hide_each_update_and_cancel_in_the_sum(ray_driver_run):
    built = ray_driver_run
    config = built.config
    ids = list(built.data.train.client_ids)[:4]
    cohort = build_cohort(built.data.train, ids, config.preprocess, config.seed, 1)
    inputs = RoundInputs(tf.constant(0.05, tf.float32), (), (), client_seeds(config.seed, 1, ids))
    weights = built.process.get_model_weights(built.process.initialize())
    trainer = built.runtime.trainers[0]
    plain = to_numpy(SequentialRuntime().train(trainer, weights, cohort, inputs))

    worker = ClientWorker(
        compose_plain(["runtime=ray", "runtime.num_cpus=2"]),
        {"type": "vectorized", "chunk_size": None},
    )
    requests = built.runtime.share_requests("train", trainer, cohort, inputs)
    masked = join_shares(
        [worker.run_share(r, to_numpy(weights), (PairwiseMask(),)).outputs for r in requests],
        requests,
    )

    for clear, hidden in zip(plain.update, masked.update):
        assert np.min(np.abs(hidden - clear)) > 0  # every client's every coordinate moved
        np.testing.assert_allclose(hidden.sum(axis=0), clear.sum(axis=0), atol=1e-4)
    np.testing.assert_array_equal(masked.num_examples, plain.num_examples)
