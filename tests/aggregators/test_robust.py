"""Coordinate-wise median, trimmed mean and Krum on hand-computed cohorts."""

import numpy as np
import pytest
import tensorflow as tf

from fedrun.aggregators.robust import KrumFactory, MedianFactory, TrimmedMeanFactory, krum_scores
from fedrun.core.placements import AtClients

COHORT = np.array([[1.0, 10.0], [2.0, 20.0], [100.0, -5.0], [3.0, 0.0]], np.float32)
WEIGHTS = np.array([1.0, 1.0, 1.0, 5.0], np.float32)


def aggregate(factory, values, weights=None):
    spec = tf.TensorSpec(values.shape[1:], tf.float32)
    placed = AtClients(tf.constant(values), len(values))
    if weights is None:
        process = factory.create(spec)
        return process.next(process.initialize(), placed)
    process = factory.create(spec, tf.TensorSpec([], tf.float32))
    return process.next(process.initialize(), placed, AtClients(tf.constant(weights), len(values)))


@pytest.mark.parametrize(
    "factory",
    [MedianFactory(), TrimmedMeanFactory(0.25), KrumFactory()],
    ids=["median", "trimmed", "krum"],
)
def test_state_is_empty_and_result_keeps_shape(factory):
    output = aggregate(factory, np.zeros([5, 2, 3], np.float32))
    assert output.state == () and output.result.value.shape == (2, 3)


def test_median_even_and_odd_cohorts_match_numpy():
    rng = np.random.default_rng(0)
    for count in (4, 5):
        values = rng.normal(size=(count, 3, 2)).astype(np.float32)
        np.testing.assert_allclose(
            aggregate(MedianFactory(), values).result.value.numpy(),
            np.median(values, axis=0),
            rtol=1e-6,
        )


def test_weighted_median():
    # Column 0 sorted 1, 2, 3, 100 with weights 1, 1, 5, 1: half the weight is reached at 3.
    np.testing.assert_allclose(
        aggregate(MedianFactory(), COHORT, WEIGHTS).result.value.numpy(), [3.0, 0.0]
    )


def test_trimmed_mean():
    output = aggregate(TrimmedMeanFactory(0.25), COHORT)
    np.testing.assert_allclose(output.result.value.numpy(), [2.5, 5.0])
    assert int(output.measurements["trimmed_count"]) == 2


def test_weighted_trimmed_mean():
    output = aggregate(TrimmedMeanFactory(0.25), COHORT, WEIGHTS)
    np.testing.assert_allclose(output.result.value.numpy(), [(2 + 15) / 6, (0 + 10) / 6], rtol=1e-6)


def test_krum_scores_by_hand():
    # f = 0: each client sums the squared distances to its 2 nearest others.
    scores = krum_scores(tf.constant(COHORT), 0).numpy()
    assert scores[0] == pytest.approx(101 + 104)
    assert scores[1] == pytest.approx(101 + 401)
    assert scores[3] == pytest.approx(104 + 401)


def test_krum_picks_the_central_client_and_multi_krum_averages():
    output = aggregate(KrumFactory(0, 1), COHORT)
    np.testing.assert_allclose(output.result.value.numpy(), [1.0, 10.0])
    assert float(output.measurements["krum_score"]) == pytest.approx(205.0)
    # multi-Krum with 2: clients 0 (score 205) and 1 (502; client 3 scores 505), weighted.
    np.testing.assert_allclose(
        aggregate(KrumFactory(0, 2), COHORT, WEIGHTS).result.value.numpy(), [1.5, 15.0]
    )


def test_krum_refuses_too_small_a_cohort():
    with pytest.raises(ValueError, match="at least 5 clients"):
        aggregate(KrumFactory(1, 1), COHORT)
