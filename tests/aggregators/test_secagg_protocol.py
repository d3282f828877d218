"""The secure aggregation protocol with dropouts: the unmasked sum equals the plain
sum of the clients whose input arrived, whoever drops at whichever stage; a round
that cannot be unmasked returns no sum; masked inputs look uniform whatever the
values; the traffic is what the messages add up to."""

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fedrun.aggregators import shamir
from fedrun.aggregators.secagg_protocol import (
    AEAD_OVERHEAD_BYTES,
    ID_BYTES,
    KEY_BYTES,
    SHARE_BYTES,
    Dropouts,
    ProtocolConfig,
    modular_sum,
    neighbourhoods,
    prg,
    run_round,
)


def inputs(count, dim, bits, seed=0):
    return np.random.default_rng(seed).integers(0, 2**bits // max(count, 1), size=(count, dim))


def unmaskable(count, config, drops, graph):
    """Whether every secret the server needs has `t` shareholders left (computed independently)."""
    u2 = set(range(count)) - drops.after_advertising
    u3 = u2 - drops.after_sharing
    u4 = u3 - drops.after_input
    for w in range(count):
        holders = graph[w] | {w}
        needed = config.threshold or len(holders) // 2 + 1
        if needed > len(holders):  # a threshold no cohort member can meet: the round aborts
            return False
        if w in u2 and len(holders & u4) < needed:
            return False
    return True


@pytest.mark.parametrize(
    "neighbors, drops",
    [
        (None, Dropouts()),
        (None, Dropouts(after_advertising=frozenset({3}))),
        (None, Dropouts(after_sharing=frozenset({0, 5}))),
        (None, Dropouts(after_input=frozenset({1, 2, 7}))),
        (None, Dropouts(frozenset({9}), frozenset({4}), frozenset({0, 6}))),
        (
            6,
            Dropouts(frozenset({9}), frozenset({4}), frozenset({6})),
        ),  # 7 shareholders, t = 4: 3 drops leave 4
    ],
    ids=[
        "none",
        "after-advertising",
        "after-sharing",
        "after-input",
        "every-stage",
        "secagg-plus-every-stage",
    ],
)
def test_unmasked_sum_is_the_plain_sum_of_the_inputs_that_arrived(neighbors, drops):
    bits, count = 24, 10
    x = inputs(count, 300, bits)
    outcome = run_round(
        x, ProtocolConfig(bits, neighbors=neighbors), drops, np.random.default_rng(1)
    )
    arrived = sorted(set(range(count)) - drops.after_advertising - drops.after_sharing)
    assert outcome.failure is None
    np.testing.assert_array_equal(outcome.total, x[arrived].sum(axis=0) % 2**bits)
    m = outcome.measurements
    assert (
        m["dropped_after_advertising"],
        m["dropped_after_sharing"],
        m["dropped_after_input"],
    ) == (
        len(drops.after_advertising),
        len(drops.after_sharing),
        len(drops.after_input),
    )
    assert m["survivors"] == len(arrived) and m["unmasking_clients"] == len(arrived) - len(
        drops.after_input
    )
    # a self mask per input that arrived, a private key per client that shared and then vanished
    assert m["reconstructions"] == len(arrived) + len(drops.after_sharing) and m["failed"] == 0


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    count=st.integers(1, 9),
    neighbors=st.one_of(st.none(), st.integers(2, 5)),
    threshold=st.one_of(st.none(), st.integers(1, 6)),
    stages=st.lists(st.integers(0, 3), min_size=9, max_size=9),
    seed=st.integers(0, 2**32),
)
# Everyone gone after advertising, with a threshold no client could meet: the round aborts.
@example(count=1, neighbors=None, threshold=2, stages=[1] + [0] * 8, seed=0)
def test_never_a_wrong_sum(count, neighbors, threshold, stages, seed):
    """Either the exact sum of the inputs that arrived, or no sum exactly when some secret lacks t shares."""
    bits = 16
    drops = Dropouts(
        *(frozenset(u for u in range(count) if stages[u] == stage) for stage in (1, 2, 3))
    )
    config = ProtocolConfig(bits, threshold, neighbors)
    x = inputs(count, 20, bits, seed)
    outcome = run_round(x, config, drops, np.random.default_rng(seed))
    graph = neighbourhoods(
        count, neighbors, np.random.default_rng(seed)
    )  # the same first draw as the round's
    if unmaskable(count, config, drops, graph):
        arrived = sorted(set(range(count)) - drops.after_advertising - drops.after_sharing)
        np.testing.assert_array_equal(outcome.total, x[arrived].sum(axis=0) % 2**bits)
        assert outcome.measurements["failed"] == 0
    else:
        assert outcome.total is None and outcome.failure and outcome.measurements["failed"] == 1


@pytest.mark.parametrize(
    "neighbors, drops, keys, masks",
    [
        (None, Dropouts(), 0, 0),
        (None, Dropouts(after_input=frozenset({1, 2})), 0, 0),
        # Each of clients 0 and 5 left 8 masks in the sum: one per other client of U3.
        (None, Dropouts(after_sharing=frozenset({0, 5})), 2, 2 * 8),
        # Client 7 sent its input before vanishing: client 3 left a mask with it too.
        (None, Dropouts(after_sharing=frozenset({3}), after_input=frozenset({7})), 1, 9),
        # SecAgg+ with degree 4: the dropped client masked with its 4 neighbours only.
        (4, Dropouts(after_sharing=frozenset({4})), 1, 4),
    ],
    ids=["none", "after-input-only", "two-before-input", "before-and-after", "secagg-plus"],
)
def test_drops_before_input_cost_a_key_and_a_mask_per_neighbour_that_sent(
    neighbors, drops, keys, masks
):
    bits, count = 24, 10
    x = inputs(count, 16, bits)
    outcome = run_round(
        x, ProtocolConfig(bits, neighbors=neighbors), drops, np.random.default_rng(2)
    )
    m = outcome.measurements
    assert outcome.failure is None
    assert (m["dropped_after_sharing"], m["keys_reconstructed"]) == (len(drops.after_sharing), keys)
    assert m["pairwise_masks_removed"] == masks
    assert m["reconstructions"] == count - len(drops.after_sharing) + keys


def test_recovering_a_drop_before_input_costs_a_share_from_each_survivor():
    bits, dim, count = 16, 4, 4
    plain = run_round(
        inputs(count, dim, bits), ProtocolConfig(bits), Dropouts(), np.random.default_rng(0)
    )
    dropped = run_round(
        inputs(count, dim, bits),
        ProtocolConfig(bits),
        Dropouts(after_sharing=frozenset({0})),
        np.random.default_rng(0),
    )
    # Client 0 sends no masked input and no unmasking shares; the 3 others each send one
    # share per client they hold (3 self-mask seeds of U3, 1 private key of client 0),
    # as they would without the drop.
    input_bytes, unmasking_bytes = dim * 2, count * SHARE_BYTES
    saved = input_bytes + unmasking_bytes  # what client 0 no longer sends
    assert dropped.measurements["bytes_up"] == pytest.approx(
        plain.measurements["bytes_up"] - saved / count
    )


def test_too_few_survivors_fail_naming_the_shortfall():
    drops = Dropouts(
        after_input=frozenset(range(5))
    )  # 5 of 10 left; each client needs 6 of its 10 shareholders
    outcome = run_round(inputs(10, 8, 16), ProtocolConfig(16), drops, np.random.default_rng(0))
    assert outcome.total is None
    assert (
        "5 shareholders left of the 6 needed" in outcome.failure
        and outcome.measurements["failed"] == 1
    )


def test_threshold_above_the_cohort_fails_before_sharing():
    outcome = run_round(
        inputs(3, 8, 16), ProtocolConfig(16, threshold=4), Dropouts(), np.random.default_rng(0)
    )
    assert outcome.total is None and "fewer than the threshold 4" in outcome.failure


def chi_square(counts):
    expected = counts.sum() / counts.size
    return float(((counts - expected) ** 2 / expected).sum())


@pytest.mark.parametrize("neighbors", [None, 2], ids=["secagg", "secagg-plus"])
def test_masked_inputs_are_independent_of_the_values(neighbors):
    bits, dim, bins, count = 12, 8192, 16, 5
    rng = np.random.default_rng(0)
    at_top = rng.integers(0, 2, size=dim).astype(bool)
    x = np.zeros((count, dim), np.int64)
    x[0] = np.where(
        at_top, 2**bits // count - 1, 0
    )  # client 0 at one extreme or the other per coordinate
    seen = {}

    def transport(masked):
        seen["masked"] = masked.copy()
        return modular_sum(masked, bits)

    run_round(
        x,
        ProtocolConfig(bits, neighbors=neighbors),
        Dropouts(after_input=frozenset({0})),
        np.random.default_rng(3),
        transport,
    )
    binned = seen["masked"][0] * bins // 2**bits
    assert (
        chi_square(np.bincount(binned, minlength=bins)) < 50
    )  # uniform (15 dof; 50 is far in the tail)
    table = np.stack(
        [np.bincount(binned[at_top], minlength=bins), np.bincount(binned[~at_top], minlength=bins)]
    ).astype(float)
    expected = table.sum(1, keepdims=True) * table.sum(0, keepdims=True) / table.sum()
    assert float(((table - expected) ** 2 / expected).sum()) < 50  # independent of the value
    assert (
        chi_square(np.bincount(x[0] * bins // 2**bits, minlength=bins)) > 1000
    )  # the statistic can tell


def test_traffic_adds_up_the_messages():
    bits, dim, count = 16, 4, 3
    outcome = run_round(
        inputs(count, dim, bits), ProtocolConfig(bits), Dropouts(), np.random.default_rng(0)
    )
    others = count - 1
    share_pair = 2 * SHARE_BYTES + AEAD_OVERHEAD_BYTES
    up = (
        KEY_BYTES + others * share_pair + dim * 2 + count * SHARE_BYTES
    )  # key, shares out, input, unmasking shares
    down = (
        others * (ID_BYTES + KEY_BYTES) + others * share_pair + count * ID_BYTES
    )  # keys, shares in, the U3 list
    assert outcome.measurements["bytes_up"] == up and outcome.measurements["bytes_down"] == down
    assert SHARE_BYTES == ID_BYTES + shamir.SHARE_VALUE_BYTES == 70


def test_secagg_plus_cuts_traffic_to_the_neighbourhood():
    bits, dim, count = 16, 64, 40
    x = inputs(count, dim, bits)
    full = run_round(x, ProtocolConfig(bits), Dropouts(), np.random.default_rng(0)).measurements
    sparse = run_round(
        x, ProtocolConfig(bits, neighbors=6), Dropouts(), np.random.default_rng(0)
    ).measurements
    share_pair = 2 * SHARE_BYTES + AEAD_OVERHEAD_BYTES
    assert full["bytes_up"] - sparse["bytes_up"] == (39 - 6) * (share_pair + SHARE_BYTES)
    assert sparse["threshold"] == 4 and full["threshold"] == 21


@pytest.mark.parametrize(
    "count, neighbors, degree",
    [(10, 4, 4), (11, 5, 6), (5, 8, 4), (7, None, 6)],
    ids=["even", "odd-rounds-up", "small-cohort", "all"],
)
def test_masking_graph_is_regular_and_symmetric(count, neighbors, degree):
    graph = neighbourhoods(count, neighbors, np.random.default_rng(0))
    assert all(len(n) == degree and u not in n for u, n in enumerate(graph))
    assert all(u in graph[v] for u, n in enumerate(graph) for v in n)


def test_prg_is_uniform_words_of_the_seed():
    a, b = prg(b"\1" * 32, 4096, 20), prg(b"\2" * 32, 4096, 20)
    assert a.min() >= 0 and a.max() < 2**20 and not np.array_equal(a, b)
    np.testing.assert_array_equal(a, prg(b"\1" * 32, 4096, 20))
    assert chi_square(np.bincount(a * 16 // 2**20, minlength=16)) < 50
