"""Preflight of the compose stack's environment and secret files, before anything starts.

``make up`` runs ``celery-stack check-env`` first: every variable that
compose/compose.yaml and compose/worker.yaml read, and every secret file they
mount, is checked here, all errors are collected, and each names the variable
(or file) and the fix. Docker and RabbitMQ would otherwise find some of these
mistakes only after containers were recreated (a port out of range, a
watermark above the memory limit) and some never (a weak password).
"""

from __future__ import annotations

import errno
import ipaddress
import json
import os
import re
import socket
import stat
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path

from .secrets import MIN_COOKIE_LENGTH, SECRETS

# compose/compose.yaml's top-level `name:` (COMPOSE_PROJECT_NAME overrides it, as in
# compose) and its default host address for the published ports.
DEFAULT_PROJECT = "celery-stack"
DEFAULT_BIND = "127.0.0.1"
PROJECT_LABEL = "com.docker.compose.project"
# Published ports and their compose defaults.
PORTS = {
    "AMQP_PORT": 5672,
    "MANAGEMENT_PORT": 15672,
    "HAPROXY_STATS_PORT": 8404,
    "FLOWER_PORT": 5555,
}
# Same floor as the Ansible roles' preflight and the Redis entrypoint.
MIN_PASSWORD_LENGTH = 16
# Erlang atoms are at most 255 characters; the cookie is read as one.
MAX_COOKIE_LENGTH = 255
# A long value made of a handful of characters ("aaaa...", "abab...") is not random.
MIN_DISTINCT_CHARACTERS = 8
# Well-known defaults and placeholders, refused whatever their length.
WEAK_VALUES = {"guest", "admin", "password", "changeme", "secret", "celery", "rabbitmq",
               "redis", "flower", "default", "test", "example"}
# RabbitMQ refuses a disk free limit below its own floor (50 MB).
MIN_DISK_FREE_BYTES = 50_000_000
# Docker refuses memory limits below 6 MiB.
MIN_DOCKER_MEMORY = 6 * 1024**2
MIN_NOFILE = 1024
# compose's own rule for project names.
PROJECT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")

# Docker/compose memory values: number + optional b/k/m/g/t (binary), "i"/"b" suffix allowed.
_DOCKER_MEM = re.compile(r"^(\d+(?:\.\d+)?) ?([kmgtp])?i?b?$", re.IGNORECASE)
# RabbitMQ absolute memory/disk values: bytes, or a number with one of these units.
_RABBIT_UNITS = {"": 1, "k": 1024, "kiB": 1024, "M": 1024**2, "MiB": 1024**2,
                 "G": 1024**3, "GiB": 1024**3, "T": 1024**4, "TiB": 1024**4,
                 "kB": 1000, "MB": 1000**2, "GB": 1000**3, "TB": 1000**4}
_RABBIT_MEM = re.compile(r"^(\d+)([A-Za-z]*)$")
# Redis units (case-insensitive): k/m/g are powers of 1000, kb/mb/gb of 1024.
_REDIS_UNITS = {"": 1, "k": 1000, "kb": 1024, "m": 1000**2, "mb": 1024**2,
                "g": 1000**3, "gb": 1024**3}
_REDIS_MEM = re.compile(r"^(\d+)([a-z]*)$", re.IGNORECASE)


def docker_bytes(value: str) -> int | None:
    m = _DOCKER_MEM.match(value.strip())
    if not m:
        return None
    power = " kmgtp".index((m.group(2) or " ").lower())
    return int(float(m.group(1)) * 1024**power)


def rabbit_bytes(value: str) -> int | None:
    m = _RABBIT_MEM.match(value.strip())
    if not m or m.group(2) not in _RABBIT_UNITS:
        return None
    return int(m.group(1)) * _RABBIT_UNITS[m.group(2)]


def redis_bytes(value: str) -> int | None:
    m = _REDIS_MEM.match(value.strip())
    if not m or m.group(2).lower() not in _REDIS_UNITS:
        return None
    return int(m.group(1)) * _REDIS_UNITS[m.group(2).lower()]


def _int(env: Mapping[str, str], name: str, default: int, errors: list[str],
         low: int, high: int | None, fix: str) -> int | None:
    raw = env.get(name, "")
    if raw == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        errors.append(f"{name}: {raw!r} is not an integer; {fix}")
        return None
    if value < low or (high is not None and value > high):
        bound = f"{low}-{high}" if high is not None else f"{low} or more"
        errors.append(f"{name}: {value} is out of range ({bound}); {fix}")
        return None
    return value


def _memory(env: Mapping[str, str], name: str, default: str, parse, units: str,
            errors: list[str]) -> int | None:
    raw = env.get(name, "") or default
    value = parse(raw)
    if value is None:
        errors.append(f"{name}: {raw!r} is not a size; write a number with a unit ({units}), "
                      f"e.g. {default}")
    return value


def _nr_open() -> int | None:
    try:
        return int(Path("/proc/sys/fs/nr_open").read_text(encoding="ascii"))
    except (OSError, ValueError):
        return None


def check_env(env: Mapping[str, str]) -> list[str]:
    """Problems with the variables compose reads, each naming the variable and the fix."""
    errors: list[str] = []

    seen: dict[int, str] = {}
    for name, default in PORTS.items():
        port = _int(env, name, default, errors, 1, 65535,
                    f"set a free TCP port 1-65535 (default {default})")
        if port is None:
            continue
        if port in seen:
            errors.append(f"{name}: port {port} is already used by {seen[port]}; "
                          "give each published port its own number")
        seen.setdefault(port, name)

    bind = env.get("CELERY_STACK_BIND", "")
    if bind:
        address = bind[1:-1] if bind.startswith("[") and bind.endswith("]") else bind
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            errors.append(f"CELERY_STACK_BIND: {bind!r} is not an IP address; set the host "
                          "address to publish on, e.g. 127.0.0.1 (default, loopback only)")
        else:
            if ip.version == 6 and address == bind:
                errors.append(f"CELERY_STACK_BIND: IPv6 address {bind!r} needs brackets in a "
                              f"port mapping; write [{bind}]")

    docker_units = "b, k, m, g; e.g. 512m"
    rabbit_units = ", ".join(u for u in _RABBIT_UNITS if u) + " or plain bytes"
    limit = _memory(env, "RABBITMQ_MEM_LIMIT", "1200m", docker_bytes, docker_units, errors)
    watermark = _memory(env, "RABBITMQ_MEMORY_WATERMARK", "700MiB", rabbit_bytes,
                        rabbit_units, errors)
    if limit is not None and limit < MIN_DOCKER_MEMORY:
        errors.append(f"RABBITMQ_MEM_LIMIT: {limit} bytes is below Docker's minimum of 6m; "
                      "raise it (default 1200m)")
    elif limit is not None and watermark is not None and watermark >= limit:
        errors.append(
            f"RABBITMQ_MEMORY_WATERMARK: {env.get('RABBITMQ_MEMORY_WATERMARK') or '700MiB'} is "
            f"not below RABBITMQ_MEM_LIMIT {env.get('RABBITMQ_MEM_LIMIT') or '1200m'}: the node "
            "would be OOM-killed before its memory alarm stops publishers; keep the watermark "
            "at about 60% of the limit")
    disk = _memory(env, "RABBITMQ_DISK_FREE_LIMIT", "1GiB", rabbit_bytes, rabbit_units, errors)
    if disk is not None and disk < MIN_DISK_FREE_BYTES:
        errors.append(f"RABBITMQ_DISK_FREE_LIMIT: {disk} bytes is below RabbitMQ's floor of "
                      "50MB; set e.g. 1GiB")

    redis_limit = _memory(env, "REDIS_MEM_LIMIT", "512m", docker_bytes, docker_units, errors)
    redis_max = _memory(env, "REDIS_MAXMEMORY", "400mb", redis_bytes,
                        "k, kb, m, mb, g, gb or plain bytes", errors)
    if redis_max == 0:
        errors.append("REDIS_MAXMEMORY: 0 means unbounded, and the container has a memory "
                      "limit (REDIS_MEM_LIMIT): set it to about 80% of that limit")
    elif redis_limit is not None and redis_max is not None and redis_max >= redis_limit:
        errors.append(
            f"REDIS_MAXMEMORY: {env.get('REDIS_MAXMEMORY') or '400mb'} is not below "
            f"REDIS_MEM_LIMIT {env.get('REDIS_MEM_LIMIT') or '512m'}: Redis would be OOM-killed "
            "instead of refusing writes; keep it at about 80% of the limit")
    _int(env, "REDIS_MAXCLIENTS", 10000, errors, 1, None,
         "set a positive number of client connections (default 10000)")

    worker = _memory(env, "WORKER_MEM_LIMIT", "1g", docker_bytes, docker_units, errors)
    if worker is not None and worker < MIN_DOCKER_MEMORY:
        errors.append(f"WORKER_MEM_LIMIT: {worker} bytes is below Docker's minimum of 6m; "
                      "raise it (default 1g)")
    _int(env, "FLOWER_MAX_TASKS", 10000, errors, 1, None,
         "set how many tasks Flower keeps in memory, a positive integer (default 10000)")
    _int(env, "CELERY_STACK_NOFILE", 65536, errors, MIN_NOFILE, _nr_open(),
         "set the open-files limit of the containers (make picks 65536, or the host's hard "
         "limit when lower)")

    topology = env.get("CELERY_STACK_TOPOLOGY_FILE", "")
    if topology and not os.access(topology, os.R_OK):
        errors.append(f"CELERY_STACK_TOPOLOGY_FILE: {topology} is missing or unreadable; "
                      "pass an existing file with make up TOPOLOGY=path")
    project = env.get("COMPOSE_PROJECT_NAME", "")
    if project and not PROJECT_NAME.match(project):
        errors.append(f"COMPOSE_PROJECT_NAME: {project!r} is not a compose project name; use "
                      "lowercase letters, digits, '-' and '_', starting with a letter or digit")
    return errors


def check_secret_value(name: str, value: str) -> str | None:
    """Why ``value`` is unacceptable as secret ``name`` (None when it is fine)."""
    if not value:
        return "empty; delete it and run 'make secrets' to generate it"
    if any(c.isspace() for c in value):
        return ("contains whitespace, which the services strip or reject; delete it and run "
                "'make secrets'")
    if value.lower() in WEAK_VALUES:
        return "a well-known default; delete it and run 'make secrets' for a random one"
    if name == "erlang_cookie":
        if len(value) < MIN_COOKIE_LENGTH:
            return (f"cookie of {len(value)} characters is too short to resist guessing; use "
                    f"at least {MIN_COOKIE_LENGTH} (delete it and run 'make secrets' on a new "
                    "cluster)")
        if len(value) > MAX_COOKIE_LENGTH:
            return f"cookie longer than {MAX_COOKIE_LENGTH} characters; Erlang refuses it"
        if not value.isascii() or not value.isalnum():
            return ("cookie must be letters and digits only (the RabbitMQ entrypoint refuses "
                    "anything else); delete it and run 'make secrets'")
    elif len(value) < MIN_PASSWORD_LENGTH:
        return (f"{len(value)} characters is too short; use at least {MIN_PASSWORD_LENGTH} "
                "(delete it and run 'make secrets')")
    if len(set(value)) < MIN_DISTINCT_CHARACTERS:
        return (f"only {len(set(value))} distinct characters: not random; delete it and run "
                "'make secrets'")
    return None


def check_secrets(directory: Path) -> list[str]:
    """Problems with the secret files compose mounts, each naming the file and the fix."""
    if not directory.is_dir():
        return [f"CELERY_STACK_SECRETS_DIR: {directory} is not a directory; run 'make secrets' "
                "or point SECRETS at the directory holding them"]
    errors = []
    for name in SECRETS:
        path = directory / name
        try:
            info = path.lstat()
        except FileNotFoundError:
            errors.append(f"{name}: {path} is missing; run 'make secrets' to generate it")
            continue
        if not stat.S_ISREG(info.st_mode):
            errors.append(f"{name}: {path} is not a regular file; replace it with one "
                          "(make secrets)")
            continue
        mode = info.st_mode & 0o777
        if mode & 0o077:
            errors.append(f"{name}: {path} has mode {mode:04o}, readable beyond its owner; "
                          f"chmod 0600 {path}")
        try:
            value = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            errors.append(f"{name}: {path} cannot be read as text ({exc}); delete it and run "
                          "'make secrets'")
            continue
        problem = check_secret_value(name, value)
        if problem:
            errors.append(f"{name}: {path}: {problem}")
    return errors


# --------------------------------------------------------- host ports in use
def port_in_use(host: str, port: int) -> bool:
    """True when a TCP listener already holds ``host:port`` (a bind there fails)."""
    address = host[1:-1] if host.startswith("[") else host
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # A closed connection in TIME_WAIT must not count as taken.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((address, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return True
            raise
    return False


def publishing_containers(port: int) -> list[tuple[str, str]]:
    """(compose project, container name) of running containers publishing host ``port``.

    Read-only docker commands (ps, inspect); no engine answering means none.
    """
    def docker(*args: str) -> str:
        # docker from PATH, as make up runs it; fixed arguments and container ids.
        return subprocess.run(["docker", *args], capture_output=True,  # noqa: S603,S607
                              text=True, timeout=30, check=True).stdout

    try:
        ids = docker("ps", "-q", "--no-trunc").split()
        if not ids:
            return []
        inspected = json.loads(docker("inspect", *ids))
    except (OSError, subprocess.SubprocessError, ValueError):
        return []
    found = []
    for c in inspected:
        bindings = (c.get("NetworkSettings") or {}).get("Ports") or {}
        if any(str(b.get("HostPort")) == str(port) for bs in bindings.values() for b in bs or ()):
            labels = (c.get("Config") or {}).get("Labels") or {}
            found.append((labels.get(PROJECT_LABEL, ""), c.get("Name", "").lstrip("/")))
    return found


def listening_process(port: int, proc: Path = Path("/proc")) -> str | None:
    """'pid N (command)' of the process listening on TCP ``port``, when /proc tells."""
    inodes = set()
    for table in ("net/tcp", "net/tcp6"):
        try:
            lines = (proc / table).read_text(encoding="ascii").splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            # local_address is HEXIP:HEXPORT; state 0A is LISTEN; field 9 is the inode.
            local_port = int(fields[1].rsplit(":", 1)[1], 16) if len(fields) > 9 else -1
            if local_port == port and fields[3] == "0A":
                inodes.add(f"socket:[{fields[9]}]")
    if not inodes:
        return None
    for fd_dir in proc.glob("[0-9]*/fd"):
        try:
            for fd in fd_dir.iterdir():
                if os.readlink(fd) in inodes:
                    pid = fd_dir.parent.name
                    comm = (fd_dir.parent / "comm").read_text(encoding="utf-8").strip()
                    return f"pid {pid} ({comm})"
        except OSError:
            continue
    return None


def check_ports_free(env: Mapping[str, str],
                     in_use: Callable[[str, int], bool] | None = None,
                     containers: Callable[[int], list[tuple[str, str]]] | None = None,
                     holder: Callable[[int], str | None] | None = None) -> list[str]:
    """Published ports another process already holds, each naming the variable and the fix.

    A port held by a container of this compose project is fine: on a rerun of
    `make up` the stack's own HAProxy and Flower hold them, and compose keeps
    (or recreates) those containers itself.
    """
    in_use = in_use or port_in_use
    containers = containers or publishing_containers
    holder = holder or listening_process
    project = env.get("COMPOSE_PROJECT_NAME") or DEFAULT_PROJECT
    bind = env.get("CELERY_STACK_BIND") or DEFAULT_BIND
    errors = []
    for name, default in PORTS.items():
        raw = env.get(name, "") or str(default)
        try:
            port = int(raw.strip())
            taken = 1 <= port <= 65535 and in_use(bind, port)
        except (ValueError, OSError):
            continue  # not a port, or not an address of this host: check_env's business
        if not taken:
            continue
        owners = containers(port)
        if any(owner == project for owner, _ in owners):
            continue
        if owners:
            who = ", ".join(f"container {c} of compose project {p or '(none)'}"
                            for p, c in owners)
        else:
            who = holder(port) or "another process"
        errors.append(f"{name}: {bind}:{port} is already in use by {who}, not by this stack "
                      f"(project {project}); stop that, or publish on a free port: "
                      f"make up {name}=<free port>")
    return errors


def check(env: Mapping[str, str], secrets_dir: Path | None) -> list[str]:
    errors = check_env(env)
    errors += check_ports_free(env)
    if secrets_dir is not None:
        errors += check_secrets(secrets_dir)
    return errors
