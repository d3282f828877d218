"""Stragglers and dropouts: who trains each round, for how many epochs."""

import pytest

from fedrun.config.errors import ConfigError
from fedrun.config.params import parse
from fedrun.training.stragglers import StragglerConfig, StragglerSimulator

IDS = [f"c{i}" for i in range(10)]


def simulator(fraction=0.0, dropout=0.0, partial_work=None, keep=False, epochs=20):
    return StragglerSimulator(
        StragglerConfig(fraction, dropout, partial_work), epochs, keep, len(IDS)
    )


def test_partial_work_keeps_stragglers_with_fewer_epochs():
    plan = simulator(0.9, keep=True).plan(IDS, 4, 0)
    assert plan.client_ids == IDS
    fewer = [e for e in plan.epochs if e < 20]
    assert len(fewer) == 9 and all(1 <= e <= 19 for e in fewer)
    assert plan.measurements() == {"sampled": 10, "stragglers": 9, "dropped": 0}


def test_dropping_keeps_only_finishers_with_full_epochs():
    plan = simulator(0.9, keep=False).plan(IDS, 4, 0)
    assert len(plan.client_ids) == 1 and plan.epochs == [20]
    assert plan.measurements() == {"sampled": 10, "stragglers": 9, "dropped": 9}


def test_kept_and_dropped_runs_share_their_stragglers():
    kept = simulator(0.5, keep=True).plan(IDS, 7, 3)
    dropped = simulator(0.5, keep=False).plan(IDS, 7, 3)
    finishers = [cid for cid, e in zip(kept.client_ids, kept.epochs) if e == 20]
    assert dropped.client_ids == finishers


def test_plan_is_a_function_of_seed_and_round():
    sim = simulator(0.5, 0.2, keep=True)
    assert sim.plan(IDS, 2, 1) == sim.plan(IDS, 2, 1)
    assert len({tuple(sim.plan(IDS, r, 1).epochs) for r in range(1, 6)}) > 1


def test_dropouts_send_nothing():
    plan = simulator(0.3, 0.2, keep=True).plan(IDS, 1, 0)
    assert len(plan.client_ids) == 8
    assert sum(e < 20 for e in plan.epochs) == 3
    assert plan.measurements() == {"sampled": 10, "stragglers": 3, "dropped": 2}


def test_config_overrides_the_algorithm_default():
    assert len(simulator(0.5, partial_work=False, keep=True).plan(IDS, 1, 0).client_ids) == 5
    assert len(simulator(0.5, partial_work=True, keep=False).plan(IDS, 1, 0).client_ids) == 10


def test_one_epoch_stragglers_run_their_epoch():
    plan = simulator(0.5, keep=True, epochs=1).plan(IDS, 1, 0)
    assert plan.epochs == [1] * 10


@pytest.mark.parametrize(
    "node, path",
    [
        ({"fraction": 1.5}, "stragglers.fraction"),
        ({"fraction": 0.6, "dropout": 0.5}, "stragglers"),
        ({"speed": 1}, "stragglers.speed"),
    ],
    ids=["fraction-above-one", "more-than-everyone", "unknown-key"],
)
def test_bad_config_names_its_path(node, path):
    with pytest.raises(ConfigError) as err:
        parse(StragglerConfig, node, "stragglers")
    assert err.value.path == path


def test_refuses_rounds_where_nobody_trains():
    with pytest.raises(ConfigError, match="no client would train"):
        simulator(1.0, keep=False)
    with pytest.raises(ConfigError, match="no client would train"):
        simulator(0.0, 1.0, keep=True)
