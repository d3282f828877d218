"""Client samplers: fixed, uniform and weighted, each seeded by (seed, round)."""

import io

import numpy as np
import pytest

from fedrun.config.errors import ConfigError
from fedrun.data.progress import DataProgress
from fedrun.training.sampling import SAMPLERS

IDS = [f"c{i}" for i in range(20)]
SIZES = {cid: (i % 4) * 10 for i, cid in enumerate(IDS)}  # c0, c4, ... hold nothing


def build(name):
    return SAMPLERS.build({"type": name}, "sampling")


@pytest.mark.parametrize(
    "name", ["fixed", "uniform", "weighted"], ids=["fixed", "uniform", "weighted"]
)
def test_same_seed_and_round_same_cohort_of_distinct_clients(name):
    first = build(name).sample(IDS, 5, 3, 11, SIZES.__getitem__)
    again = build(name).sample(IDS, 5, 3, 11, SIZES.__getitem__)
    assert first == again
    assert len(set(first)) == 5 and set(first) <= set(IDS)


def test_fixed_takes_the_first_clients_every_round():
    sampler = build("fixed")
    assert (
        sampler.sample(IDS, 3, 1, 0, SIZES.__getitem__)
        == sampler.sample(IDS, 3, 9, 5, SIZES.__getitem__)
        == IDS[:3]
    )


@pytest.mark.parametrize("name", ["uniform", "weighted"], ids=["uniform", "weighted"])
def test_cohorts_change_with_round_and_seed(name):
    sampler = build(name)
    cohorts = {
        tuple(sampler.sample(IDS, 5, r, s, SIZES.__getitem__)) for r in (1, 2) for s in (0, 1)
    }
    assert len(cohorts) == 4


def test_weighted_frequency_follows_example_counts():
    sampler = build("weighted")
    draws = [sampler.sample(IDS, 1, r, 0, SIZES.__getitem__)[0] for r in range(1, 4001)]
    counts = {cid: draws.count(cid) for cid in IDS}
    assert all(counts[cid] == 0 for cid in IDS if SIZES[cid] == 0)
    total = sum(SIZES.values())
    for cid in IDS:
        expected = 4000 * SIZES[cid] / total
        assert abs(counts[cid] - expected) < 5 * np.sqrt(expected + 1), (cid, counts[cid], expected)


def test_weighted_never_picks_empty_clients_and_refuses_too_few():
    sampler = build("weighted")
    for r in range(1, 30):
        assert all(SIZES[cid] > 0 for cid in sampler.sample(IDS, 15, r, 0, SIZES.__getitem__))
    with pytest.raises(ValueError, match="only 15 hold examples"):
        sampler.sample(IDS, 16, 1, 0, SIZES.__getitem__)


def test_weighted_reads_sizes_once():
    calls = []

    def sizes(cid):
        calls.append(cid)
        return 1

    sampler = build("weighted")
    for r in (1, 2, 3):
        sampler.sample(IDS, 2, r, 0, sizes)
    assert len(calls) == len(IDS)


def test_weighted_reports_reading_the_population_sizes():
    stream = io.StringIO()
    sampler = SAMPLERS.choose({"type": "weighted"}, "sampling").build(
        progress=DataProgress("lines", delay=0.0, stream=stream)
    )
    first = sampler.sample(IDS, 3, 1, 0, SIZES.__getitem__)
    assert stream.getvalue().startswith("data: reading client sizes: 20 clients done, ")
    assert first == build("weighted").sample(IDS, 3, 1, 0, SIZES.__getitem__)


def test_weighted_names_the_config_key_it_cannot_meet():
    with pytest.raises(ConfigError) as info:
        build("weighted").sample(IDS, 16, 1, 0, SIZES.__getitem__)
    assert info.value.path == "clients_per_round" and info.value.allowed == "1..15"
    with pytest.raises(ConfigError, match="^sampling: .*every client holds 0 examples"):
        build("weighted").sample(IDS, 1, 1, 0, lambda cid: 0)
