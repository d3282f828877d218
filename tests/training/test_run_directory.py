"""One writer per run directory: a second locker is refused with the holder's pid,
the lock dies with its process (SIGKILL included), and the directory is checked
for writability."""

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from fedrun.training.run_directory import (
    LOCK_FILE,
    RunDirectoryError,
    RunDirectoryLockedError,
    lock_run_directory,
    prepare_run_directory,
)
from tests.conftest import REPO_ROOT

HOLDER = """
import pathlib, sys, time
from fedrun.training.run_directory import lock_run_directory
with lock_run_directory(sys.argv[1]):
    pathlib.Path(sys.argv[2]).write_text("locked")
    time.sleep(600)
"""


def hold_lock_in_child(run_dir, tmp_path):
    """A child process that holds the lock of `run_dir` (returned once it does)."""
    marker = tmp_path / "locked.marker"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    child = subprocess.Popen([sys.executable, "-c", HOLDER, str(run_dir), str(marker)], env=env)
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert child.poll() is None and time.monotonic() < deadline, "the child never took the lock"
        time.sleep(0.05)
    return child


def test_second_locker_is_refused_naming_directory_and_holder(tmp_path):
    run_dir = tmp_path / "run"
    with lock_run_directory(str(run_dir)):
        with pytest.raises(RunDirectoryLockedError) as caught:
            with lock_run_directory(str(run_dir)):
                pytest.fail("a second lock was granted")
    message = str(caught.value)
    assert str(run_dir) in message and f"process {os.getpid()} on {socket.gethostname()}" in message
    assert caught.value.holder == f"process {os.getpid()} on {socket.gethostname()}"


def test_lock_is_released_at_the_end_of_the_block(tmp_path):
    with lock_run_directory(str(tmp_path)):
        pass
    with lock_run_directory(str(tmp_path)):
        assert (tmp_path / LOCK_FILE).read_text().split()[0] == str(os.getpid())


def test_another_process_holding_the_lock_is_named(tmp_path):
    run_dir = tmp_path / "run"
    child = hold_lock_in_child(run_dir, tmp_path)
    try:
        with pytest.raises(RunDirectoryLockedError, match=f"in use by process {child.pid} on "):
            with lock_run_directory(str(run_dir)):
                pass
    finally:
        child.kill()
        child.wait()


def test_sigkill_leaves_no_stale_lock(tmp_path):
    run_dir = tmp_path / "run"
    child = hold_lock_in_child(run_dir, tmp_path)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert (run_dir / LOCK_FILE).exists()  # the file stays; its lock went with the process
    with lock_run_directory(str(run_dir)):
        assert (run_dir / LOCK_FILE).read_text().split()[0] == str(os.getpid())


def test_unreadable_holder_is_an_unknown_process(tmp_path):
    with lock_run_directory(str(tmp_path)):
        (tmp_path / LOCK_FILE).write_text("")  # a holder whose pid was never written
        with pytest.raises(RunDirectoryLockedError, match="an unknown process"):
            with lock_run_directory(str(tmp_path)):
                pass


def test_lock_below_a_file_is_a_run_directory_error(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(RunDirectoryError, match="Not a directory"):
        with lock_run_directory(str(tmp_path / "file" / "run")):
            pass


def test_prepare_leaves_nothing_behind(tmp_path):
    prepare_run_directory(str(tmp_path / "run"))
    assert os.listdir(tmp_path / "run") == []
