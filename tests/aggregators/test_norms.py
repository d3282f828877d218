"""Norm bounds: fixed, and the adaptive quantile estimate (Andrew et al. 2021)."""

import math

import pytest
import tensorflow as tf

from fedrun.aggregators.norms import AdaptiveNorm, AdaptiveNormParams, FixedNorm, QuantileState
from fedrun.core.placements import AtClients


def norms(*values):
    return AtClients(tf.constant(values, tf.float32), len(values))


def test_fixed_norm_has_no_state():
    bound = FixedNorm(2.5)
    state = bound.initialize()
    assert state == () and float(bound.bound(state)) == 2.5
    assert bound.next(state, norms(1.0, 9.0)) == ((), None)


def test_adaptive_state_type():
    state = AdaptiveNorm(AdaptiveNormParams()).initialize()
    assert isinstance(state, QuantileState) and state.estimate.dtype == tf.float32


@pytest.mark.parametrize(
    "client_norms, fraction",
    [((1.0, 2.0, 3.0, 4.0), 0.5), ((1.0, 1.0, 1.0, 4.0), 0.75), ((3.0, 3.0), 0.0), ((2.5,), 1.0)],
    ids=["at-quantile", "too-high", "too-low", "equal-counts-as-under"],
)
def test_geometric_update(client_norms, fraction):
    bound = AdaptiveNorm(
        AdaptiveNormParams(target_quantile=0.5, learning_rate=0.2, initial_norm=2.5)
    )
    state, measured = bound.next(bound.initialize(), norms(*client_norms))
    assert float(measured) == pytest.approx(fraction)
    assert float(state.estimate) == pytest.approx(2.5 * math.exp(-0.2 * (fraction - 0.5)), rel=1e-6)


def test_affine_bound():
    bound = AdaptiveNorm(AdaptiveNormParams(initial_norm=3.0, multiplier=2.0, increment=1.0))
    assert float(bound.bound(bound.initialize())) == pytest.approx(7.0)


def test_noised_count_uses_expected_cohort():
    seed = tf.constant([4, 2], tf.int64)
    bound = AdaptiveNorm(AdaptiveNormParams(initial_norm=2.5), count_stddev=0.5, expected_clients=8)
    _, measured = bound.next(bound.initialize(), norms(1.0, 1.0, 1.0, 4.0), seed)
    noise = 0.5 * float(tf.random.stateless_normal([], seed=seed))
    assert float(measured) == pytest.approx((3 * 0.5 - 0.5 + noise) / 8 + 0.5, rel=1e-6)


def test_noised_count_needs_a_seed_and_a_cohort_size():
    with pytest.raises(ValueError, match="expected number of clients"):
        AdaptiveNorm(AdaptiveNormParams(), count_stddev=1.0)
    bound = AdaptiveNorm(AdaptiveNormParams(), count_stddev=1.0, expected_clients=4)
    with pytest.raises(ValueError, match="noise seed"):
        bound.next(bound.initialize(), norms(1.0))
