"""A first SIGINT/SIGTERM only asks the loop to stop; a second one stops at once."""

import os
import signal

import pytest

from fedrun.training.signals import RunInterrupted, StopRequest


@pytest.mark.parametrize(
    "signal_number", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"]
)
def test_first_signal_sets_the_flag(signal_number):
    with StopRequest() as stop:
        assert not stop.requested
        os.kill(os.getpid(), signal_number)
        assert stop.requested and stop.signal_number == signal_number


def test_second_sigint_stops_at_once():
    with StopRequest():
        os.kill(os.getpid(), signal.SIGINT)
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)


def test_handlers_are_restored():
    before = signal.getsignal(signal.SIGINT)
    with StopRequest():
        assert signal.getsignal(signal.SIGINT) is not before
    assert signal.getsignal(signal.SIGINT) is before


@pytest.mark.parametrize(
    "signal_number, code",
    [(signal.SIGINT, 130), (signal.SIGTERM, 143)],
    ids=["sigint-130", "sigterm-143"],
)
def test_interrupted_run_exit_code_and_message(signal_number, code):
    err = RunInterrupted(7, "/run/checkpoints/round_000007.json", signal_number)
    assert err.exit_code == code
    assert "after round 7" in str(err) and "round_000007.json" in str(err)
