"""Supervisor XML-RPC client: a real XML-RPC server on a unix socket, no network."""

from __future__ import annotations

import base64
import socketserver
import tempfile
import threading
import xmlrpc.client
from collections.abc import Iterator
from pathlib import Path
from xmlrpc.server import SimpleXMLRPCDispatcher, SimpleXMLRPCRequestHandler

import pytest

from celery_stack.watchdog import supervisor_rpc as rpc


class _Handler(SimpleXMLRPCRequestHandler):
    # TCP_NODELAY does not exist on AF_UNIX sockets.
    disable_nagle_algorithm = False

    def do_POST(self) -> None:
        self.server.auth_headers.append(self.headers.get("Authorization"))
        super().do_POST()


class UnixXMLRPCServer(socketserver.UnixStreamServer, SimpleXMLRPCDispatcher):
    def __init__(self, path: str):
        # Unix peers have no address: request logging would fail on it.
        self.logRequests = False
        self.auth_headers: list[str | None] = []
        SimpleXMLRPCDispatcher.__init__(self, allow_none=True, encoding=None)
        socketserver.UnixStreamServer.__init__(self, path, _Handler)


class FakeSupervisord:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def all_info(self) -> list[dict]:
        return [{"group": "celery-bulk", "name": "celery-bulk-00", "statename": "RUNNING",
                 "start": 100, "now": 400}]

    def stop(self, name: str, wait: bool) -> bool:
        self.calls.append(("stop", name))
        if name == "celery-bulk:gone":
            raise xmlrpc.client.Fault(rpc.NOT_RUNNING, "NOT_RUNNING")
        if name == "celery-bulk:bad":
            raise xmlrpc.client.Fault(10, "BAD_NAME")
        return True

    def start(self, name: str, wait: bool) -> bool:
        self.calls.append(("start", name))
        return True


@pytest.fixture
def server() -> Iterator[tuple[UnixXMLRPCServer, FakeSupervisord, str]]:
    # A short directory: AF_UNIX paths are limited to ~107 bytes.
    with tempfile.TemporaryDirectory(prefix="wd") as tmp:
        path = str(Path(tmp) / "s.sock")
        srv = UnixXMLRPCServer(path)
        fake = FakeSupervisord()
        srv.register_function(fake.all_info, "supervisor.getAllProcessInfo")
        srv.register_function(fake.stop, "supervisor.stopProcess")
        srv.register_function(fake.start, "supervisor.startProcess")
        thread = threading.Thread(target=srv.serve_forever, daemon=True)
        thread.start()
        try:
            yield srv, fake, path
        finally:
            srv.shutdown()
            srv.server_close()
            thread.join(5)


def test_unix_socket_transport_calls_supervisor(server):
    _srv, fake, path = server
    sup = rpc.connect(f"unix://{path}", timeout=5)
    info = sup.getAllProcessInfo()
    assert info[0]["name"] == "celery-bulk-00"
    rpc.restart(sup, "celery-bulk:celery-bulk-00")
    assert fake.calls == [("stop", "celery-bulk:celery-bulk-00"),
                          ("start", "celery-bulk:celery-bulk-00")]


def test_unix_socket_url_credentials_are_sent_as_basic_auth(server):
    srv, _fake, path = server
    rpc.connect(f"unix://watch:s3cret@{path}", timeout=5).getAllProcessInfo()
    rpc.connect(f"unix://{path}", timeout=5).getAllProcessInfo()
    assert srv.auth_headers[0] == "Basic " + base64.b64encode(b"watch:s3cret").decode()
    assert srv.auth_headers[1] is None


def test_restart_tolerates_a_process_that_already_stopped(server):
    _srv, fake, path = server
    rpc.restart(rpc.connect(f"unix://{path}", timeout=5), "celery-bulk:gone")
    assert fake.calls == [("stop", "celery-bulk:gone"), ("start", "celery-bulk:gone")]


def test_restart_reports_other_faults_and_does_not_start(server):
    _srv, fake, path = server
    with pytest.raises(rpc.SupervisorError, match="BAD_NAME"):
        rpc.restart(rpc.connect(f"unix://{path}", timeout=5), "celery-bulk:bad")
    assert fake.calls == [("stop", "celery-bulk:bad")]


def test_missing_socket_raises_oserror(tmp_path):
    sup = rpc.connect(f"unix://{tmp_path}/missing.sock", timeout=1)
    with pytest.raises(OSError):
        sup.getAllProcessInfo()


def test_http_endpoint_defaults_to_rpc2_and_keeps_credentials():
    ep = rpc.endpoint("http://u:p@127.0.0.1:9001", timeout=3)
    assert ep.proxy_url == "http://u:p@127.0.0.1:9001/RPC2"
    assert isinstance(ep.transport, rpc.TimeoutTransport)
    assert rpc.endpoint("http://h:9001/RPC2").proxy_url == "http://h:9001/RPC2"


@pytest.mark.parametrize("url", ["ftp://h/x", "unix://", "/run/supervisor.sock"])
def test_bad_urls_are_rejected(url):
    with pytest.raises(rpc.SupervisorError):
        rpc.endpoint(url)


def test_redact_hides_the_password():
    assert rpc.redact("http://u:pw@h:9001/RPC2") == "http://u:***@h:9001/RPC2"
    assert rpc.redact("unix:///run/supervisor.sock") == "unix:///run/supervisor.sock"
