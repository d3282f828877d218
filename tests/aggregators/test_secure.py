"""Secure sum: exact on the quantization grid, masks that cancel, masked vectors
that reveal nothing, the plain sum within quantization error (property test)."""

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fedrun.aggregators import secure
from fedrun.aggregators.factory import supports_unweighted, supports_weighted
from fedrun.aggregators.secure import SecureSumFactory, SecureSumState, min_bits
from fedrun.core.placements import AtClients


def run_once(factory, values, spec, state=None):
    process = factory.create(spec)
    return process.next(process.initialize() if state is None else state, values)


# --- shape and type ---------------------------------------------------------------------


def test_is_unweighted_only():
    factory = SecureSumFactory(1.0, max_clients=3)
    assert supports_unweighted(factory) and not supports_weighted(factory)


def test_state_and_measurements_types():
    process = SecureSumFactory(1.0, bits=8, max_clients=3).create(tf.TensorSpec([2], tf.float32))
    state = process.initialize()
    assert isinstance(state, SecureSumState)
    assert str(process.next.type_signature) == (
        "(<state=<seed=int64[2],round_num=int64>@SERVER,value={float32[2]}@CLIENTS> -> "
        "<state=<seed=int64[2],round_num=int64>@SERVER,result=float32[2]@SERVER,"
        "measurements=<secure_upper_clipped_count=int32,secure_lower_clipped_count=int32,protocol=<clients=int64,"
        "threshold=int64,dropped_after_advertising=int64,dropped_after_sharing=int64,dropped_after_input=int64,"
        "survivors=int64,unmasking_clients=int64,reconstructions=int64,keys_reconstructed=int64,"
        "pairwise_masks_removed=int64,failed=int64,bytes_up=float64,"
        "bytes_down=float64,server_seconds=float64>>@SERVER>)"
    )


@pytest.mark.parametrize(
    "bits, clients, ok",
    [(4, 15, True), (4, 16, False), (1, 1, True), (20, 10, True)],
    ids=["fits", "overflows", "one-client", "default-like"],
)
def test_overflow_check(bits, clients, ok):
    assert (secure.overflow_problem(bits, clients) is None) == ok
    if not ok:
        with pytest.raises(ValueError, match="overflows"):
            SecureSumFactory(1.0, bits=bits, max_clients=clients)


def test_larger_cohort_than_built_for_is_refused():
    values = AtClients(tf.zeros([4, 2]), 4)
    with pytest.raises(ValueError, match="at most 3 clients"):
        run_once(SecureSumFactory(1.0, bits=8, max_clients=3), values, tf.TensorSpec([2]))


# --- numbers --------------------------------------------------------------------------


def test_exact_on_the_quantization_grid():
    # bits=4, 3 clients: L = 15 // 3 = 5 levels over [-1, 1], a grid of step 0.4.
    values = AtClients(tf.constant([[-1.0, 0.2], [0.6, 1.0], [-0.2, -0.6]]), 3)
    output = run_once(SecureSumFactory(1.0, bits=4, max_clients=3), values, tf.TensorSpec([2]))
    np.testing.assert_allclose(output.result.value.numpy(), [-0.6, 0.6], atol=1e-6)


def test_clips_into_bounds_and_counts_clients():
    values = AtClients(tf.constant([[3.0, 0.0], [0.0, -0.5], [-4.0, 0.5]]), 3)
    output = run_once(
        SecureSumFactory(2.0, -1.0, bits=40, max_clients=3), values, tf.TensorSpec([2])
    )
    np.testing.assert_allclose(output.result.value.numpy(), [2.0 + 0.0 - 1.0, 0.0], atol=1e-6)
    assert int(output.measurements["secure_upper_clipped_count"]) == 1
    assert int(output.measurements["secure_lower_clipped_count"]) == 1


def test_keeps_nest_structure_and_dtypes():
    spec = {"w": tf.TensorSpec([2, 2], tf.float32), "b": tf.TensorSpec([1], tf.float64)}
    values = AtClients({"w": tf.ones([2, 2, 2]) * 0.5, "b": tf.ones([2, 1], tf.float64) * 0.25}, 2)
    output = run_once(SecureSumFactory(1.0, bits=40, max_clients=2), values, spec)
    assert output.result.value["b"].dtype == tf.float64
    np.testing.assert_allclose(output.result.value["w"].numpy(), np.ones([2, 2]), atol=1e-6)
    np.testing.assert_allclose(output.result.value["b"].numpy(), [0.5], atol=1e-9)


def test_fresh_masks_every_round():
    captured = []
    values = AtClients(tf.zeros([3, 256]), 3)
    factory = SecureSumFactory(1.0, bits=16, max_clients=3)
    process = factory.create(tf.TensorSpec([256]))
    state = process.initialize()
    original = secure.intrinsics.secure_sum
    try:
        secure.intrinsics.secure_sum = lambda v, bits: (
            captured.append(v.value.numpy()),
            original(v, bits),
        )[1]
        for _ in range(2):
            state = process.next(state, values).state
    finally:
        secure.intrinsics.secure_sum = original
    assert int(state.round_num) == 2
    assert not np.array_equal(captured[0], captured[1])


def chi_square(counts):
    expected = counts.sum() / counts.size
    return float(((counts - expected) ** 2 / expected).sum())


def test_masked_vector_is_independent_of_the_value(monkeypatch):
    """The server-side input of client 0 is uniform over the field whatever the value."""
    bits, dim, bins = 12, 8192, 16
    rng = np.random.default_rng(0)
    at_upper = rng.integers(0, 2, size=dim).astype(bool)  # client 0 holds -1 or +1 per coordinate
    first = np.where(at_upper, 1.0, -1.0).astype(np.float32)
    values = AtClients(
        tf.constant(np.stack([first, np.zeros(dim, np.float32), np.zeros(dim, np.float32)])), 3
    )
    seen = {}
    original = secure.intrinsics.secure_sum

    def capture(placed, bitwidth):
        seen["masked"] = placed.value.numpy()
        return original(placed, bitwidth)

    monkeypatch.setattr(secure.intrinsics, "secure_sum", capture)
    run_once(SecureSumFactory(1.0, bits=bits, max_clients=3, seed=3), values, tf.TensorSpec([dim]))
    masked = seen["masked"][0]
    binned = masked * bins // 2**bits
    # Goodness of fit to uniform (15 degrees of freedom; 50 is far in the tail).
    assert chi_square(np.bincount(binned, minlength=bins)) < 50
    # Independence of the masked bin from the value (contingency table, 15 dof).
    table = np.stack(
        [
            np.bincount(binned[at_upper], minlength=bins),
            np.bincount(binned[~at_upper], minlength=bins),
        ]
    ).astype(float)
    expected = table.sum(1, keepdims=True) * table.sum(0, keepdims=True) / table.sum()
    assert float(((table - expected) ** 2 / expected).sum()) < 50
    # The same statistic on the unmasked integers shows the test can tell.
    levels = (2**bits - 1) // 3
    unmasked_bins = np.where(at_upper, levels, 0) * bins // 2**bits
    assert chi_square(np.bincount(unmasked_bins, minlength=bins)) > 1000


# --- property: secure sum == plain sum within quantization error -------------------------

shapes = st.lists(st.lists(st.integers(1, 4), min_size=0, max_size=2), min_size=1, max_size=3)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    leaf_shapes=shapes,
    clients=st.integers(1, 12),
    lower=st.floats(-5.0, 2.0),
    width=st.floats(0.1, 6.0),
    extra_bits=st.integers(0, 36),
    neighbors=st.one_of(st.none(), st.integers(2, 6)),
    data_seed=st.integers(0, 2**31),
)
def test_secure_sum_matches_plain_sum(
    leaf_shapes, clients, lower, width, extra_bits, neighbors, data_seed
):
    upper = lower + width
    bits = min(secure.MAX_BITS, min_bits(clients) + extra_bits)
    rng = np.random.default_rng(data_seed)
    spec = [tf.TensorSpec(shape, tf.float32) for shape in leaf_shapes]
    # Values spill over the bounds on both sides, so clipping is exercised too.
    stacked = [
        rng.uniform(lower - width / 4, upper + width / 4, size=[clients, *shape]).astype(np.float32)
        for shape in leaf_shapes
    ]
    factory = SecureSumFactory(
        upper, lower, bits=bits, max_clients=clients, neighbors=neighbors, seed=data_seed % 1000
    )
    output = run_once(factory, AtClients([tf.constant(s) for s in stacked], clients), spec)
    step = (upper - lower) / factory.levels
    for result, values in zip(output.result.value, stacked):
        expected = np.clip(values.astype(np.float64), lower, upper).sum(axis=0)
        tolerance = clients * step + 1e-6 * clients * max(abs(lower), abs(upper))
        assert np.all(np.abs(result.numpy() - expected) <= tolerance)


# --- dropouts after the masked input ----------------------------------------------------


def test_dropouts_after_input_keep_the_sum_and_are_counted():
    values = AtClients(
        tf.constant(np.random.default_rng(0).uniform(-1, 1, size=(10, 5)).astype(np.float32)), 10
    )
    plain = run_once(
        SecureSumFactory(1.0, bits=40, max_clients=10, seed=1), values, tf.TensorSpec([5])
    )
    dropped = run_once(
        SecureSumFactory(1.0, bits=40, max_clients=10, dropout=0.3, seed=1),
        values,
        tf.TensorSpec([5]),
    )
    np.testing.assert_allclose(
        dropped.result.value.numpy(), values.value.numpy().sum(axis=0), atol=1e-6
    )
    np.testing.assert_array_equal(
        dropped.result.value.numpy(), plain.result.value.numpy()
    )  # same rounding, masks removed
    protocol = {k: v.numpy() for k, v in dropped.measurements["protocol"].items()}
    assert (
        protocol["dropped_after_input"] == 3
        and protocol["survivors"] == 10
        and protocol["unmasking_clients"] == 7
    )
    assert (
        protocol["reconstructions"] == 10
        and protocol["failed"] == 0
        and protocol["bytes_up"] > 5 * 5
    )


def test_too_many_dropouts_give_no_sum_and_a_warning(caplog):
    values = AtClients(tf.ones([10, 3]), 10)
    factory = SecureSumFactory(1.0, bits=40, max_clients=10, dropout=0.5)  # 5 left, 6 shares needed
    with caplog.at_level("WARNING", logger="fedrun.aggregators.secure"):
        output = run_once(factory, values, tf.TensorSpec([3]))
    assert np.all(np.isnan(output.result.value.numpy()))
    assert int(output.measurements["protocol"]["failed"]) == 1
    assert (
        "secure_sum round 1: the sum cannot be unmasked" in caplog.text
        and "not applied" in caplog.text
    )


def test_dropouts_are_drawn_from_the_seed_and_round():
    values = AtClients(tf.ones([10, 3]), 10)
    process = SecureSumFactory(
        1.0, bits=40, max_clients=10, dropout=0.3, threshold=2, seed=4
    ).create(tf.TensorSpec([3]))
    state = process.initialize()
    counts = []
    for _ in range(2):
        output = process.next(state, values)
        state = output.state
        counts.append(int(output.measurements["protocol"]["dropped_after_input"]))
    assert counts == [3, 3]


@pytest.mark.parametrize(
    "node, message",
    [
        ({"threshold": 11}, "threshold: exceeds the shareholders"),
        ({"threshold": 6, "neighbors": 4}, "threshold: exceeds the shareholders"),
        ({"dropout": 1.0}, "dropout"),
    ],
    ids=["threshold-above-cohort", "threshold-above-neighbourhood", "everyone-drops"],
)
def test_bad_protocol_parameters_are_config_errors(node, message):
    from fedrun.aggregators.build import AggregatorContext, build_factory
    from fedrun.config.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        build_factory(
            {"type": "secure_sum", "upper_bound": 1.0, **node},
            "aggregator",
            (),
            AggregatorContext(clients_per_round=10),
        )


# --- clients that drop before their masked input ----------------------------------------


def protocol_of(output):
    return {k: v.numpy() for k, v in output.measurements["protocol"].items()}


def test_clients_missing_from_the_cohort_dropped_before_masking_and_were_recovered():
    values = AtClients(
        tf.constant(np.random.default_rng(0).uniform(-1, 1, size=(7, 5)).astype(np.float32)), 7
    )
    output = run_once(
        SecureSumFactory(1.0, bits=40, max_clients=10, cohort_size=10, seed=1),
        values,
        tf.TensorSpec([5]),
    )
    np.testing.assert_allclose(
        output.result.value.numpy(), values.value.numpy().sum(axis=0), atol=1e-6
    )
    protocol = protocol_of(output)
    # 10 entered, 3 vanished after sharing their keys: 3 private keys reconstructed, and
    # each of the 3 left a pairwise mask with each of the 7 clients that sent input.
    assert (protocol["clients"], protocol["dropped_after_sharing"], protocol["survivors"]) == (
        10,
        3,
        7,
    )
    assert (protocol["keys_reconstructed"], protocol["pairwise_masks_removed"]) == (3, 3 * 7)
    assert protocol["reconstructions"] == 7 + 3 and protocol["failed"] == 0


def test_too_many_drops_before_masking_give_no_sum():
    values = AtClients(tf.ones([5, 3]), 5)  # 5 of 10 left; each secret needs 6 shares
    output = run_once(
        SecureSumFactory(1.0, bits=40, max_clients=10, cohort_size=10),
        values,
        tf.TensorSpec([3]),
    )
    assert np.all(np.isnan(output.result.value.numpy()))
    assert protocol_of(output)["failed"] == 1


def test_more_values_than_the_cohort_are_refused():
    factory = SecureSumFactory(1.0, bits=8, max_clients=4, cohort_size=2)
    with pytest.raises(ValueError, match="3 clients' values, more than the cohort of 2"):
        run_once(factory, AtClients(tf.zeros([3, 2]), 3), tf.TensorSpec([2]))


def test_the_configured_secure_sum_knows_the_sampled_cohort():
    from fedrun.aggregators.build import AggregatorContext, build_factory

    factory = build_factory(
        {"type": "secure_sum", "upper_bound": 1.0},
        "aggregator",
        (),
        AggregatorContext(clients_per_round=10),
    )
    assert factory.cohort_size == 10
