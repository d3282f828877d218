"""Dealing a cohort into workers' shares of even work."""

import pytest

from fedrun.runtime.ray_pool import balanced_shares


@pytest.mark.parametrize(
    "work, parts, expected",
    [
        ([5, 1, 1, 1, 1, 1], 2, [(0,), (1, 2, 3, 4, 5)]),
        ([1, 1, 1, 1], 2, [(0, 2), (1, 3)]),
        ([3, 3], 4, [(0,), (1,)]),
        ([2, 0, 2], 1, [(0, 1, 2)]),
    ],
    ids=["one-big-client", "equal-clients", "more-workers-than-clients", "one-worker"],
)
def test_shares_even_out_the_work(work, parts, expected):
    assert balanced_shares(work, parts) == expected


def test_every_client_lands_in_exactly_one_share():
    work = [7, 3, 9, 1, 4, 4, 8, 2, 6]
    shares = balanced_shares(work, 3)
    assert sorted(p for share in shares for p in share) == list(range(len(work)))
    loads = [sum(work[p] for p in share) for share in shares]
    assert max(loads) - min(loads) <= max(work)
