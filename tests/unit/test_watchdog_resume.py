"""celery_stack.watchdog.resume: a stopped process is continued before its restart.

Real processes (a `sleep` in its own process group, as Supervisor starts
programs), no mocks: the state read from /proc and the SIGCONT are the feature.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from celery_stack.watchdog.resume import resume_if_stopped, state


def wait_state(pid: int, want: str, timeout: float = 5.0) -> str | None:
    deadline = time.monotonic() + timeout
    while (now := state(pid)) != want and time.monotonic() < deadline:
        time.sleep(0.01)
    return now


@pytest.fixture()
def group():
    """A process leading its own group with one child, as a pool worker under Supervisor."""
    proc = subprocess.Popen(["sh", "-c", "sleep 60 & wait"], start_new_session=True)
    yield proc
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


def test_a_stopped_process_and_its_group_are_continued(group):
    time.sleep(0.2)  # the child exists
    os.killpg(group.pid, signal.SIGSTOP)
    assert wait_state(group.pid, "T") == "T"
    assert resume_if_stopped(group.pid) is True
    assert wait_state(group.pid, "S") == "S"
    children = subprocess.run(["pgrep", "-g", str(group.pid)], capture_output=True, text=True,
                              check=True).stdout.split()
    assert len(children) == 2, children  # sh and its sleep
    assert all(wait_state(int(pid), "S") == "S" for pid in children), children


def test_a_running_process_is_left_alone(group):
    assert wait_state(group.pid, "S") == "S"
    assert resume_if_stopped(group.pid) is False


def test_a_gone_or_unknown_pid_is_not_an_error():
    done = subprocess.run(["true"], check=True)
    assert done.returncode == 0
    assert resume_if_stopped(0) is False
    assert state(2**22 + 12345) is None  # above the kernel's pid_max
    assert resume_if_stopped(2**22 + 12345) is False
