"""Packing clients into lanes: the assignment, the lane count and the schedule."""

import numpy as np
import pytest

from fedrun.runtime.packing import (
    FIXED_LANES,
    assign_lanes,
    choose_lanes,
    longest_lane,
    pack_schedule,
)


def test_longest_client_first_to_the_least_loaded_lane():
    # 9 -> lane 0, 7 -> lane 1, 5 -> lane 1 (7 < 9), 4 -> lane 0 (9 < 12), 2 -> lane 1 (12 < 13).
    assert assign_lanes([5, 9, 2, 7, 4], 2) == [[1, 4], [3, 0, 2]]
    assert longest_lane([5, 9, 2, 7, 4], 2) == 14


def test_clients_without_steps_get_no_lane():
    assert assign_lanes([0, 3, 0, 2], 3) == [[1], [3], []]


@pytest.mark.parametrize(
    "steps, expected",
    [
        pytest.param([10, 10, 10, 10], 4, id="equal-clients-keep-a-lane-each"),
        pytest.param([40, 1, 1, 1], 1, id="one-long-client-takes-the-rest-along"),
        pytest.param([14, 15, 16, 17, 20, 25, 26, 28, 34, 35], 6, id="tutorial-cohort"),
    ],
)
def test_lane_count_minimizes_the_modelled_cost(steps, expected):
    costs = {n: (n + FIXED_LANES) * longest_lane(steps, n) for n in range(1, len(steps) + 1)}
    assert choose_lanes(steps) == expected
    assert costs[expected] == min(costs.values())


def test_schedule_runs_each_client_whole_and_in_turn():
    steps = [2, 4, 1, 3]
    batch = 2
    index = np.zeros((4, 4, batch), np.int64)
    mask = np.zeros((4, 4, batch), np.float32)
    for k, n in enumerate(steps):
        index[k, :n] = 100 * k + np.arange(n * batch).reshape(n, batch)
        mask[k, :n] = 1.0
    mask[1, 3, 1] = 0.0  # a last, partial batch
    packed = pack_schedule(index, mask, 2)
    assert packed.lane_steps == 5  # lanes [4, 1] and [3, 2]
    for lane in range(2):
        real = packed.mask[lane].sum(axis=1) > 0
        clients = packed.client[lane][real]
        # Each client's steps are contiguous, start and end where marked, in order.
        for k in np.unique(clients):
            at = np.flatnonzero(packed.client[lane] == k)
            at = at[real[at]]
            assert list(at) == list(range(at[0], at[0] + steps[k]))
            assert packed.starts[lane, at[0]] and packed.ends[lane, at[-1]]
            np.testing.assert_array_equal(packed.index[lane, at], index[k, : steps[k]])
            np.testing.assert_array_equal(packed.mask[lane, at], mask[k, : steps[k]])
    assert packed.starts.sum() == packed.ends.sum() == 4
    assert packed.mask.sum() == mask.sum()
