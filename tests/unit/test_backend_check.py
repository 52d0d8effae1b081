"""A worker refuses to start when its Redis result backend cannot reconnect.

The broken state is the one found in the worker image (ha-notes F1): the
``packaging`` library missing, so kombu's Redis transport fails to import and
Celery's backend silently gets no connection errors. The test reproduces it in
a real ``celery worker`` start with a ``packaging`` that cannot be imported;
worker_init runs before any broker connection, so no broker is needed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

from celery import Celery

from celery_stack.backend_check import reconnect_problem

CELERY = Path(sys.executable).with_name("celery")
ENV = {
    "CELERY_STACK_BROKER_URL": "amqp://u:p@127.0.0.1:9//",
    "CELERY_STACK_RESULT_BACKEND": "redis://127.0.0.1:9/0",
    "CELERY_STACK_FLEET": "default",
}


# An intact worker goes on to connect to the (absent) broker and logs that it
# cannot: proof that worker_init, where the check runs, is over.
PAST_INIT = "Cannot connect to amqp://"
# Only stops a hung start; the worker's imports take seconds beside molecule's converges.
HANG_GUARD_S = 120


def _worker(tmp_path: Path, block_packaging: bool) -> subprocess.CompletedProcess:
    """The worker's exit code and stderr, or -1 once it got past worker_init (then stopped)."""
    env = {**os.environ, **ENV}
    if block_packaging:
        (tmp_path / "packaging").mkdir()
        (tmp_path / "packaging" / "__init__.py").write_text(
            'raise ImportError("packaging removed by the test")\n')
        env["PYTHONPATH"] = str(tmp_path)
    cmd = [str(CELERY), "-A", "celery_stack.demo.app", "worker", "--pool", "solo",
           "-Q", "default", "--loglevel", "WARNING"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    timer = threading.Timer(HANG_GUARD_S, proc.kill)
    timer.start()
    err: list[str] = []
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            err.append(line)
            if PAST_INIT in line:
                proc.kill()
                proc.wait()
                return subprocess.CompletedProcess(cmd, -1, "", "".join(err))
        return subprocess.CompletedProcess(cmd, proc.wait(), "", "".join(err))
    finally:
        timer.cancel()
        proc.kill()
        proc.wait()


def test_backend_with_kombu_redis_complete_has_errors_to_retry_on():
    app = Celery("t", backend="redis://127.0.0.1:9/0", set_as_current=False)
    assert reconnect_problem(app) is None
    assert app.backend.connection_errors  # the installed celery[redis] is complete


def test_worker_without_packaging_refuses_to_start(tmp_path):
    done = _worker(tmp_path, block_packaging=True)
    assert done.returncode == 1, (done.returncode, done.stderr[-2000:])
    assert "worker refused to start" in done.stderr
    assert "no connection errors to retry on" in done.stderr
    assert "packaging removed by the test" in done.stderr


def test_worker_with_packaging_gets_past_the_check(tmp_path):
    # Same command, intact install: no refusal (it then waits for the broker).
    done = _worker(tmp_path, block_packaging=False)
    assert done.returncode == -1, (done.returncode, done.stderr[-2000:])  # still running
    assert PAST_INIT in done.stderr, done.stderr[-2000:]  # and past the check
    assert "worker refused to start" not in done.stderr, done.stderr[-2000:]
