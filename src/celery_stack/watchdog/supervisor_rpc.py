"""Supervisor's XML-RPC API over its unix socket or HTTP.

``connect`` returns the ``supervisor`` namespace of a ``ServerProxy``
(getAllProcessInfo, stopProcess, startProcess, ...). The watchdog only ever
calls those three, so tests substitute any object with the same methods.
"""

from __future__ import annotations

import http.client
import socket
import xmlrpc.client
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

DEFAULT_URL = "unix:///run/supervisor.sock"
# Supervisor fault codes (supervisor.xmlrpc.Faults) a restart tolerates.
NOT_RUNNING = 70
ALREADY_STARTED = 60


class SupervisorError(RuntimeError):
    """Supervisor cannot be reached or refused a call."""


class Supervisor(Protocol):
    # Method names are Supervisor's XML-RPC names, so a ServerProxy namespace fits.
    def getAllProcessInfo(self) -> list[dict[str, Any]]: ...
    def stopProcess(self, name: str, wait: bool = True) -> bool: ...
    def startProcess(self, name: str, wait: bool = True) -> bool: ...


class UnixSocketHTTPConnection(http.client.HTTPConnection):
    """HTTP over an AF_UNIX stream socket (Supervisor's ``unix_http_server``)."""

    def __init__(self, path: str, timeout: float | None = None):
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.socket_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


class UnixSocketTransport(xmlrpc.client.Transport):
    def __init__(self, path: str, timeout: float | None = None):
        super().__init__()
        self.socket_path = path
        self.timeout = timeout

    def make_connection(self, host: Any) -> http.client.HTTPConnection:
        # Keep-alive: reuse the open connection, as the stock transport does.
        if self._connection and host == self._connection[0]:
            return self._connection[1]
        # get_host_info sets the Authorization header from "user:pass@" in the proxy URL.
        _, self._extra_headers, _ = self.get_host_info(host)
        self._connection = (host, UnixSocketHTTPConnection(self.socket_path, self.timeout))
        return self._connection[1]


class TimeoutTransport(xmlrpc.client.Transport):
    """The stock HTTP transport, with a socket timeout (a hung supervisord must not hang us)."""

    def __init__(self, timeout: float | None = None):
        super().__init__()
        self.timeout = timeout

    def make_connection(self, host: Any) -> http.client.HTTPConnection:
        conn = super().make_connection(host)
        conn.timeout = self.timeout
        return conn


@dataclass(frozen=True)
class Endpoint:
    proxy_url: str
    transport: xmlrpc.client.Transport


def endpoint(url: str, timeout: float | None = None) -> Endpoint:
    """Proxy URL and transport for ``unix://[user:pass@]/path`` or ``http://[user:pass@]host/RPC2``."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        if not parts.path:
            raise SupervisorError(f"{url}: no socket path; use unix:///path/to/supervisor.sock")
        auth = parts.netloc if "@" in parts.netloc else ""
        return Endpoint(f"http://{auth}localhost/RPC2", UnixSocketTransport(parts.path, timeout))
    if parts.scheme == "http":
        path = parts.path if parts.path not in ("", "/") else "/RPC2"
        return Endpoint(f"http://{parts.netloc}{path}", TimeoutTransport(timeout))
    raise SupervisorError(f"{url}: unsupported scheme; use unix:///path or http://host:port/RPC2")


def connect(url: str, timeout: float | None = None) -> Supervisor:
    ep = endpoint(url, timeout)
    proxy = xmlrpc.client.ServerProxy(ep.proxy_url, transport=ep.transport, allow_none=True)
    return proxy.supervisor


def redact(url: str) -> str:
    """``url`` without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def restart(supervisor: Supervisor, name: str) -> None:
    """Stop then start one process; Supervisor applies stopasgroup/killasgroup/stopwaitsecs."""
    try:
        supervisor.stopProcess(name, True)
    except xmlrpc.client.Fault as fault:
        # Already stopped (it died meanwhile): starting it is still right.
        if fault.faultCode != NOT_RUNNING:
            raise SupervisorError(f"stopProcess({name}): {fault.faultString}") from fault
    try:
        supervisor.startProcess(name, True)
    except xmlrpc.client.Fault as fault:
        # Supervisor's autorestart may have started it first.
        if fault.faultCode != ALREADY_STARTED:
            raise SupervisorError(f"startProcess({name}): {fault.faultString}") from fault
