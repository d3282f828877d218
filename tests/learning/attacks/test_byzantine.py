"""The Byzantine set (seeded, once) and the aggregators' tolerance check."""

import pytest

from fedrun.aggregators.build import parse_aggregator
from fedrun.config.errors import ConfigError
from fedrun.learning.attacks.byzantine import byzantine_clients, check_tolerance
from fedrun.learning.attacks.config import AttackConfig

IDS = [f"client_{i}" for i in range(40)]


def test_fraction_of_all_clients_is_deterministic_from_the_seed():
    chosen = byzantine_clients(AttackConfig(fraction=0.2), IDS, seed=3)
    assert len(chosen) == 8 and chosen <= set(IDS)
    assert chosen == byzantine_clients(AttackConfig(fraction=0.2), IDS, seed=3)
    assert chosen != byzantine_clients(AttackConfig(fraction=0.2), IDS, seed=4)
    assert byzantine_clients(AttackConfig(fraction=0.0), IDS, seed=3) == frozenset()


def test_explicit_ids_and_unknown_id():
    assert byzantine_clients(AttackConfig(clients=["client_1", "client_5"]), IDS, 0) == {
        "client_1",
        "client_5",
    }
    with pytest.raises(ConfigError) as err:
        byzantine_clients(AttackConfig(clients=["client_1", "nobody"]), IDS, 0)
    assert err.value.path == "attack.clients[1]"


KRUM = {"type": "krum", "byzantine": 2}


@pytest.mark.parametrize(
    "node, fraction, refused",
    [
        (KRUM, 0.2, False),  # 2 expected of 10, f = 2
        (KRUM, 0.3, True),
        ({"type": "trimmed_mean", "trim_fraction": 0.1}, 0.2, True),  # trims 1 a side
        ({"type": "trimmed_mean", "trim_fraction": 0.2}, 0.2, False),
        ({"type": "median"}, 0.4, False),
        ({"type": "median"}, 0.5, True),
        ({"type": "clipping", "norm": 1.0, "inner": {"type": "median"}}, 0.5, True),
        (
            {"type": "mean"},
            0.9,
            False,
        ),  # the mean claims no tolerance: the attack is the experiment
    ],
    ids=[
        "krum-ok",
        "krum-too-many",
        "trim-too-few",
        "trim-ok",
        "median-ok",
        "median-half",
        "nested-median",
        "mean",
    ],
)
def test_tolerance(node, fraction, refused):
    config = AttackConfig(fraction=fraction)
    count = round(fraction * 40)
    if not refused:
        check_tolerance(config, count, 40, 10, parse_aggregator(node, "aggregator"))
        return
    with pytest.raises(ConfigError, match="Byzantine clients are expected") as err:
        check_tolerance(config, count, 40, 10, parse_aggregator(node, "aggregator"))
    assert err.value.path == "attack.fraction"


def test_tolerance_of_an_id_list_names_clients():
    config = AttackConfig(clients=IDS[:12])
    with pytest.raises(ConfigError) as err:
        check_tolerance(config, 12, 40, 10, parse_aggregator(KRUM, "aggregator"))
    assert err.value.path == "attack.clients"
