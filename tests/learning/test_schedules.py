"""Learning-rate schedules over rounds, and their config checks."""

import math

import pytest

from fedrun.config.errors import ConfigError
from fedrun.learning.schedules import SCHEDULES, build_schedule


@pytest.mark.parametrize(
    "node, expected",
    [
        ({"type": "constant"}, [1.0, 1.0, 1.0, 1.0]),
        ({"type": "exponential", "decay_rate": 0.5}, [1.0, 0.5, 0.25, 0.125]),
        (
            {"type": "exponential", "decay_rate": 0.5, "decay_rounds": 2},
            [1.0, 0.5**0.5, 0.5, 0.5**1.5],
        ),
        (
            {"type": "exponential", "decay_rate": 0.5, "decay_rounds": 2, "staircase": True},
            [1.0, 1.0, 0.5, 0.5],
        ),
        ({"type": "inverse_time", "decay_rate": 1.0}, [1.0, 0.5, 1 / 3, 0.25]),
        ({"type": "cosine", "decay_rounds": 2, "min_factor": 0.2}, [1.0, 0.6, 0.2, 0.2]),
        (
            {"type": "piecewise", "boundaries": [1, 3], "factors": [1.0, 0.5, 0.1]},
            [1.0, 0.5, 0.5, 0.1],
        ),
    ],
    ids=[
        "constant",
        "exponential",
        "exponential-slow",
        "staircase",
        "inverse-time",
        "cosine",
        "piecewise",
    ],
)
def test_rates_per_round(node, expected):
    schedule = build_schedule(node, "client_lr_schedule", 0.2)
    for round_num, factor in enumerate(expected, start=1):
        assert math.isclose(schedule(round_num), 0.2 * factor, rel_tol=1e-9)


def test_rebased_keeps_the_shape():
    schedule = build_schedule({"type": "exponential", "decay_rate": 0.5}, "server_lr_schedule", 1.0)
    assert schedule.rebased(0.01)(3) == pytest.approx(0.0025)


def test_null_is_no_schedule():
    assert build_schedule(None, "client_lr_schedule", 0.1) is None


@pytest.mark.parametrize(
    "node, path",
    [
        ({"type": "exponential", "decay_rate": 1.5}, "client_lr_schedule.decay_rate"),
        ({"type": "piecewise", "boundaries": [5], "factors": [1.0]}, "client_lr_schedule"),
        (
            {"type": "piecewise", "boundaries": [5, 2], "factors": [1.0, 0.5, 0.1]},
            "client_lr_schedule",
        ),
        ({"type": "linear"}, "client_lr_schedule.type"),
    ],
    ids=["decay-above-one", "factor-count", "unsorted-boundaries", "unknown-type"],
)
def test_bad_schedules_name_their_path(node, path):
    with pytest.raises(ConfigError) as err:
        SCHEDULES.parse(node, "client_lr_schedule")
    assert err.value.path == path
