"""Update attacks against numpy computations on tiny stacked updates."""

import statistics

import numpy as np
import pytest

from fedrun.learning.attacks.config import AttackConfig
from fedrun.learning.attacks.updates import alie_z_max, attack_updates, noise_rng

# Four clients, two leaves ([K, 2] and [K]); clients 1 and 3 are Byzantine.
LEAVES = [
    np.array([[1.0, 2.0], [3.0, -1.0], [5.0, 0.0], [-2.0, 4.0]], np.float32),
    np.array([0.5, -0.5, 1.5, 2.0], np.float32),
]
BYZANTINE = np.array([False, True, False, True])
IDS = ["c0", "c1", "c2", "c3"]
HONEST = ~BYZANTINE


def attacked(**config):
    return attack_updates(
        AttackConfig(**config),
        [leaf.copy() for leaf in LEAVES],
        BYZANTINE,
        IDS,
        round_num=3,
        seed=7,
    )


def assert_honest_rows_unchanged(out):
    for new, old in zip(out, LEAVES):
        np.testing.assert_array_equal(new[HONEST], old[HONEST])
        assert new.dtype == old.dtype


@pytest.mark.parametrize(
    "config, factor",
    [
        ({"kind": "sign_flip"}, -1.0),
        ({"kind": "sign_flip", "scale": 3.0}, -3.0),
        ({"kind": "scaling"}, 4.0),  # default: the cohort size (model replacement)
        ({"kind": "scaling", "scale": 10.0}, 10.0),
    ],
    ids=["sign-flip", "sign-flip-k3", "scaling-cohort", "scaling-10"],
)
def test_sign_flip_and_scaling_multiply_own_update(config, factor):
    out = attacked(**config)
    assert_honest_rows_unchanged(out)
    for new, old in zip(out, LEAVES):
        np.testing.assert_allclose(new[BYZANTINE], factor * old[BYZANTINE])


def test_gaussian_replaces_update_with_seeded_noise():
    out = attacked(kind="gaussian", std=2.0)
    assert_honest_rows_unchanged(out)
    for k in np.flatnonzero(BYZANTINE):
        rng = noise_rng(7, 3, IDS[k])
        expected = [rng.normal(0.0, 2.0, size=leaf.shape[1:]) for leaf in LEAVES]
        for new, want in zip(out, expected):
            np.testing.assert_allclose(new[k], want.astype(np.float32))
    assert not np.allclose(out[0][1], out[0][3])  # each attacker draws its own noise
    np.testing.assert_array_equal(attacked(kind="gaussian", std=2.0)[0], out[0])  # deterministic


def test_gaussian_noise_has_the_configured_std():
    leaves = [np.zeros((2, 20000), np.float32)]
    out = attack_updates(
        AttackConfig(kind="gaussian", std=3.0), leaves, np.array([True, False]), ["a", "b"], 1, 0
    )
    assert np.std(out[0][0]) == pytest.approx(3.0, rel=0.03)
    np.testing.assert_array_equal(out[0][1], 0.0)


def test_alie_sends_mean_minus_z_std_of_honest_updates():
    out = attacked(kind="alie", z=1.5)
    assert_honest_rows_unchanged(out)
    for new, old in zip(out, LEAVES):
        honest = old[HONEST].astype(np.float64)
        expected = honest.mean(axis=0) - 1.5 * honest.std(axis=0)
        for k in np.flatnonzero(BYZANTINE):
            np.testing.assert_allclose(new[k], expected, rtol=1e-6)


def test_alie_default_z_is_baruchs_z_max():
    # n = 4, m = 2: s = floor(4 / 2 + 1) - 2 = 1, z_max = Phi^-1(3 / 4).
    z = statistics.NormalDist().inv_cdf(0.75)
    assert alie_z_max(4, 2) == pytest.approx(0.6744897501960817)
    np.testing.assert_allclose(attacked(kind="alie")[0], attacked(kind="alie", z=z)[0])


@pytest.mark.parametrize(
    "n, m, expected",
    [
        (100, 20, 0.4958503473474533),
        (50, 12, 0.5828415072712162),
        (10, 1, 0.0),
        (10, 9, 1.2815515655446004),
    ],
    ids=["100-20", "50-12", "one-attacker-sends-the-mean", "supporters-floor-at-one"],
)
def test_alie_z_max_values(n, m, expected):
    assert alie_z_max(n, m) == pytest.approx(expected)


def test_ipm_sends_minus_epsilon_honest_mean():
    out = attacked(kind="ipm", epsilon=0.5)
    assert_honest_rows_unchanged(out)
    for new, old in zip(out, LEAVES):
        expected = -0.5 * old[HONEST].astype(np.float64).mean(axis=0)
        np.testing.assert_allclose(new[BYZANTINE], np.stack([expected, expected]), rtol=1e-6)


def test_colluding_attack_without_honest_clients_uses_own_updates():
    every = np.ones(4, bool)
    out = attack_updates(AttackConfig(kind="ipm", epsilon=1.0), LEAVES, every, IDS, 1, 0)
    np.testing.assert_allclose(out[1][0], -LEAVES[1].mean())


def test_no_byzantine_client_changes_nothing():
    out = attack_updates(AttackConfig(kind="sign_flip"), LEAVES, np.zeros(4, bool), IDS, 1, 0)
    assert all(new is old for new, old in zip(out, LEAVES))
