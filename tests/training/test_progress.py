"""Progress: a bar on terminals for runs of more than a few rounds, lines elsewhere."""

import io

import pytest

from fedrun.training.callbacks import ProgressCallback
from fedrun.training.progress import ProgressBarCallback, latest_accuracies, progress_callback


class Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize(
    "mode, stream, rounds, expected",
    [
        (True, Terminal(), 10, ProgressBarCallback),
        (True, io.StringIO(), 10, ProgressCallback),  # CI, Slurm logs
        (True, Terminal(), 3, ProgressCallback),  # a few rounds
        ("lines", Terminal(), 10, ProgressCallback),
        ("bar", io.StringIO(), 2, ProgressBarCallback),
        (False, Terminal(), 10, type(None)),
    ],
    ids=["terminal", "not-a-terminal", "few-rounds", "lines", "bar", "off"],
)
def test_mode_and_output_choose_the_display(mode, stream, rounds, expected):
    assert type(progress_callback(mode, rounds, stream)) is expected


def test_bar_shows_rounds_seconds_per_round_time_left_and_accuracies():
    stream = Terminal()
    bar = ProgressBarCallback(4, stream)
    bar.on_train_begin(2)  # resumed after round 1
    bar.on_round_end(
        {
            "round": 2,
            "train": {"accuracy": 0.5},
            "eval": {"federated": {"accuracy": 0.625}},
            "round_seconds": 1.0,
        }
    )
    bar.on_train_end({})
    text = stream.getvalue()
    assert "2/4 rounds" in text and "s/round" in text and "<" in text
    assert "train=0.5000" in text and "eval_federated=0.6250" in text


def test_latest_accuracies_skip_what_a_round_did_not_measure():
    record = {
        "round": 1,
        "train": {"loss": 1.0},
        "eval": {"train": {"accuracy": 0.25}, "personalization": {"clients": 3}},
    }
    assert latest_accuracies(record) == {"eval_train": "0.2500"}
