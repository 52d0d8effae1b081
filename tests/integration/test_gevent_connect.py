"""A gevent worker whose broker accepts TCP but never speaks AMQP gives up and retries.

That peer is what HAProxy is while it hands a client to a node still stopping
or booting. Celery clears the connect timeout under gevent, so without
celery_stack.connect_timeout the worker waits in the handshake forever and
connects only once. The peer here is a real listening socket that accepts
and stays silent; the worker is the real `celery worker --pool gevent` with
the stack's settings (celery_stack.celeryconfig), no container needed.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from celery_stack.smoke import make_app
from celery_stack.topology import load

pytestmark = pytest.mark.integration
# Seconds to wait for the worker's second connection; a timeout, not a claim:
# the claim is that one comes at all (without the fix it never does).
RETRY_TIMEOUT = 60


class SilentBroker:
    """Accepts every connection, reads what comes, never answers; records accept times."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.accepted: list[float] = []
        self.held: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(time.monotonic())
            self.held.append(conn)  # kept open: silent, like a node not yet speaking

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


def start_gevent_worker(tmp_path: Path, broker: SilentBroker) -> tuple[subprocess.Popen, Path,
                                                                      dict]:
    """The real gevent worker of the `net` fleet against the silent peer: process, log, env."""
    password = tmp_path / "broker_password"
    password.write_text("not-used-the-peer-never-asks", encoding="utf-8")
    env = {**os.environ,
           "CELERY_STACK_BROKER_HOSTS": f"127.0.0.1:{broker.port}",
           "CELERY_STACK_BROKER_USER": "celery",
           "CELERY_STACK_BROKER_PASSWORD_FILE": str(password),
           "CELERY_STACK_FLEET": "net"}
    for name in ("CELERY_STACK_REDIS_HOST", "CELERY_STACK_RESULT_BACKEND", "CELERY_STACK_TOPOLOGY"):
        env.pop(name, None)
    log = tmp_path / "worker.log"
    with log.open("w", encoding="utf-8") as out:
        worker = subprocess.Popen(
            [str(Path(sys.executable).with_name("celery")), "-A", "celery_stack.demo.app:app",
             "worker", "--pool", "gevent", "--concurrency", "2", "--queues", "net",
             "--without-gossip", "--without-mingle", "--loglevel", "INFO"],
            env=env, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT)
    return worker, log, env


def test_a_gevent_worker_times_out_a_silent_handshake_and_connects_again(tmp_path: Path) -> None:
    broker = SilentBroker()
    worker, log, env = start_gevent_worker(tmp_path, broker)
    try:
        # The timeout the worker must keep: the stack's setting as any client of it sees it.
        configured = make_app(load(None), env).conf.broker_connection_timeout
        assert configured, "the stack's settings give no broker connect timeout to keep"
        deadline = time.monotonic() + RETRY_TIMEOUT
        while len(broker.accepted) < 2 and time.monotonic() < deadline and worker.poll() is None:
            time.sleep(0.2)
        text = log.read_text(encoding="utf-8")
        assert len(broker.accepted) >= 2, (
            f"the gevent worker connected {len(broker.accepted)} time(s) in {RETRY_TIMEOUT} s: "
            f"it waits in the handshake with no timeout\n{text[-2000:]}")
        gap = broker.accepted[1] - broker.accepted[0]
        print(f"second connection {gap:.1f} s after the first (connect timeout {configured} s)")
        # It gave up on the first peer no sooner than its timeout allows.
        assert gap >= configured, f"retried after {gap:.1f} s, before the {configured} s timeout"
    finally:
        worker.kill()
        worker.wait(timeout=30)
        broker.close()


def test_a_gevent_worker_logs_every_greenlets_stack_on_sigusr2(tmp_path: Path) -> None:
    """Where a stuck consumer waits, while its remote control still answers (green_dump)."""
    broker = SilentBroker()
    worker, log, _ = start_gevent_worker(tmp_path, broker)
    try:
        deadline = time.monotonic() + RETRY_TIMEOUT
        while not broker.accepted and time.monotonic() < deadline and worker.poll() is None:
            time.sleep(0.2)
        text = log.read_text(encoding="utf-8")
        assert broker.accepted, f"the worker never connected:\n{text[-2000:]}"
        worker.send_signal(signal.SIGUSR2)  # now waiting in the handshake the peer never answers
        marker = "every greenlet's stack follows"
        while marker not in log.read_text(encoding="utf-8") and time.monotonic() < deadline:
            time.sleep(0.2)
        text = log.read_text(encoding="utf-8")
        assert worker.poll() is None, f"SIGUSR2 ended the worker:\n{text[-2000:]}"
        assert marker in text, f"no stack dump after SIGUSR2:\n{text[-2000:]}"
        dump = text[text.index(marker):]
        # The consumer greenlet's frames: Celery's connect, inside py-amqp's handshake.
        assert "celery/worker/consumer" in dump and "amqp/connection.py" in dump, dump[-4000:]
    finally:
        worker.kill()
        worker.wait(timeout=30)
        broker.close()
