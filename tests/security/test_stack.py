"""Security of a running compose stack, as `make up` starts it.

Acceptance (issue 5, security): every UI and API refuses anonymous and default
credentials and accepts the generated ones (Flower, management API, HAProxy
stats, AMQP guest, Redis); no secret value appears in `make up` output, in
`docker compose logs` of any service, in `docker inspect` (env, command) or in
any process' command line; secret files are 0600 on the host, the cookie 0400
inside the nodes; only HAProxy's and Flower's ports are published, on
loopback; the servers run as non-root users (root only where listed, with why).
Run: make security. Read-only on the stack: it is left as it was found.
"""

from __future__ import annotations

import base64
import json
import stat
import subprocess
import urllib.error
import urllib.request
import uuid

import pytest
from amqp.exceptions import AccessRefused
from kombu import Connection

from celery_stack import secrets as secret_files
from celery_stack.testing.compose import BIND, REPO, SECRETS, Compose, secret

pytestmark = pytest.mark.security

VHOST = "celery"
# Published by design: HAProxy (AMQP, management, stats) and Flower; nothing else.
PUBLISHED = {"haproxy": {"5672/tcp", "15672/tcp", "8404/tcp"}, "flower": {"5555/tcp"}}
# Long-running processes (descendants of the container's PID 1) allowed to be
# root, and why. Everything else, above all each server itself, must not be.
ROOT_ALLOWED = {
    "supervisord": "starts each Celery program as user celery (setuid needs root)",
    "celery-stack watchdog": "restarts hung programs through Supervisor's root-only socket",
}
# The server processes that must run as non-root in each kind of service.
SERVERS = {"rabbit": "beam.smp", "haproxy": "haproxy", "redis": "redis-server",
           "flower": "celery flower", "worker": "celery", "beat": "celery"}


def show(proc: subprocess.CompletedProcess[str]) -> str:
    return f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"


def http_status(url: str, user: str | None = None, password: str | None = None,
                method: str = "GET") -> int:
    """HTTP status of one request (redirects followed), never raising on 4xx/5xx."""
    data = b"{}" if method in ("PUT", "POST") else None
    req = urllib.request.Request(url, method=method, data=data)  # noqa: S310 (http://127.0.0.1)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if user is not None:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        req.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(req, timeout=15) as resp:  # noqa: S310 (http://127.0.0.1)
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def secret_values() -> dict[str, str]:
    return {name: secret(name) for name in secret_files.SECRETS}


def leaks(text: str) -> list[str]:
    """Names of the secrets whose value occurs in ``text`` (never the values)."""
    return sorted(name for name, value in secret_values().items() if value in text)


def inspect(stack: Compose) -> dict[str, dict]:
    """docker inspect of every service's container, by service."""
    services = stack.services()
    ids = {s: stack.container(s) for s in services}
    proc = subprocess.run(["docker", "inspect", *ids.values()], capture_output=True, text=True,
                          timeout=60, check=True)
    by_id = {c["Id"]: c for c in json.loads(proc.stdout)}
    return {s: next(c for i, c in by_id.items() if i.startswith(cid)) for s, cid in ids.items()}


# ---------------------------------------------------- anonymous access (moved from e2e)

def test_flower_requires_auth(stack: Compose) -> None:
    assert http_status(stack.url("FLOWER_PORT")) == 401
    assert http_status(stack.url("FLOWER_PORT"), "admin", "wrong-password") == 401
    assert http_status(stack.url("FLOWER_PORT"), "admin", secret("flower_password")) == 200
    # The one auth-exempt page (the container's health check uses it).
    assert http_status(stack.url("FLOWER_PORT", "/healthcheck")) == 200


def test_management_api_requires_auth_and_monitoring_only_reads(stack: Compose) -> None:
    overview = stack.url("MANAGEMENT_PORT", "/api/overview")
    assert http_status(overview) == 401
    assert http_status(overview, "guest", "guest") == 401
    assert http_status(overview, "admin", secret("rabbitmq_admin_password")) == 200
    monitoring = ("monitoring", secret("rabbitmq_monitoring_password"))
    assert http_status(overview, *monitoring) == 200
    # Least privilege: the monitoring user cannot change anything.
    vhost = stack.url("MANAGEMENT_PORT", f"/api/vhosts/sec-{uuid.uuid4().hex[:8]}")
    assert http_status(vhost, *monitoring, method="PUT") in (401, 403)
    assert http_status(vhost, "admin", secret("rabbitmq_admin_password")) == 404


def test_haproxy_stats_require_auth(stack: Compose) -> None:
    stats = stack.url("HAPROXY_STATS_PORT")
    assert http_status(stats) == 401
    assert http_status(stats, "admin", "wrong-password") == 401
    assert http_status(stats, "admin", secret("haproxy_stats_password")) == 200


def test_amqp_refuses_guest_and_accepts_the_app_user(stack: Compose) -> None:
    port = stack.port_map["AMQP_PORT"]
    # RabbitMQ's well-known default account must not work.
    guest = Connection(hostname=BIND, port=port, userid="guest",
                       password="guest", virtual_host="/", connect_timeout=10)  # noqa: S106
    with pytest.raises(AccessRefused):
        guest.connect()
    guest.release()
    app = Connection(hostname=BIND, port=port, userid="celery",
                     password=secret("rabbitmq_app_password"), virtual_host=VHOST,
                     connect_timeout=10)
    try:
        app.connect()
        assert app.connected
    finally:
        app.release()
    # No default account exists at all, not even restricted to loopback.
    users = stack.exec("rabbit1", "rabbitmqctl", "-q", "list_users", "--formatter", "json")
    assert users.returncode == 0, show(users)
    assert "guest" not in {u["user"] for u in json.loads(users.stdout)}


def test_redis_is_private_and_requires_auth(stack: Compose) -> None:
    port = stack.run("port", "redis", "6379", timeout=30, check=False)
    assert port.returncode != 0 or not port.stdout.strip(), show(port)
    anonymous = stack.exec("redis", "redis-cli", "-h", "redis", "PING", timeout=30)
    assert "NOAUTH" in anonymous.stdout + anonymous.stderr, show(anonymous)
    assert "PONG" not in anonymous.stdout, show(anonymous)
    # REDISCLI_AUTH passes from this process' environment (`-e NAME` without a
    # value): the password is on no command line.
    app = stack.exec("redis", "redis-cli", "--no-auth-warning", "--user", "celery",
                     "-h", "redis", "PING", env=("REDISCLI_AUTH",),
                     caller_env={"REDISCLI_AUTH": secret("redis_password")}, timeout=30)
    assert app.returncode == 0, show(app)
    assert app.stdout.strip() == "PONG", show(app)


# ------------------------------------------------------------------- leaks

def test_secrets_never_in_logs_inspect_or_command_lines(stack: Compose) -> None:
    logs = stack.run("logs", "--no-color", "--timestamps", timeout=120).stdout
    assert logs.strip(), "no logs at all: nothing was checked"
    assert leaks(logs) == [], "secret values in docker compose logs"
    for service, info in inspect(stack).items():
        exposed = json.dumps({"Env": info["Config"]["Env"], "Cmd": info["Config"]["Cmd"],
                              "Entrypoint": info["Config"]["Entrypoint"],
                              "Args": info["Args"], "Labels": info["Config"]["Labels"]})
        assert leaks(exposed) == [], f"{service}: secret values in docker inspect"
        # Passwords reach the services as files, never as values in the environment.
        for var in info["Config"]["Env"]:
            name = var.split("=", 1)[0]
            if any(w in name for w in ("PASSWORD", "SECRET", "COOKIE")):
                assert name.endswith("_FILE"), f"{service}: {name} carries a value, not a file"
        # docker top needs the pid column; the command lines are what matters.
        top = subprocess.run(["docker", "top", info["Id"], "-eo", "pid,args"],
                             capture_output=True, text=True, timeout=30, check=True).stdout
        assert leaks(top) == [], f"{service}: secret values on a process command line"


def test_make_up_output_shows_no_secret_and_changes_nothing(stack: Compose) -> None:
    """`make up` on the running project: idempotent, and its output has no secret value."""
    before = {s: (i["Id"], i["State"]["StartedAt"], i["Image"]) for s, i in inspect(stack).items()}
    env = {k: v for k, v in stack.env.items() if k not in ("MAKEFLAGS", "MAKELEVEL")}
    env["COMPOSE_PROJECT_NAME"] = stack.project
    proc = subprocess.run(["make", "-s", "up"], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=600, check=False)
    assert proc.returncode == 0, show(proc)[-4000:]
    assert "smoke: every queue" in proc.stdout, show(proc)[-4000:]
    assert leaks(proc.stdout + proc.stderr) == [], "secret values in make up output"
    after = {s: (i["Id"], i["State"]["StartedAt"], i["Image"]) for s, i in inspect(stack).items()}
    # A service may be recreated only because its image was rebuilt from changed
    # sources (other work in this checkout since the stack started); else nothing moves.
    moved = {s: (before[s], after[s]) for s in before if after.get(s) != before[s]
             and after.get(s, ("", "", before[s][2]))[2] == before[s][2]}
    assert set(after) == set(before), (sorted(before), sorted(after))
    assert not moved, f"make up recreated or restarted containers of a healthy stack: {moved}"


# ------------------------------------------------------------ file modes

def test_host_secret_files_are_owner_only() -> None:
    assert stat.S_IMODE(SECRETS.stat().st_mode) & 0o077 == 0, f"{SECRETS} readable by others"
    for path in [SECRETS / n for n in secret_files.SECRETS] + [
            SECRETS / "rabbitmq_definitions.json"]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o077 == 0, f"{path}: mode {mode:04o}, want 0600 or stricter"


def stat_in(stack: Compose, service: str, path: str) -> str:
    proc = stack.exec(service, "stat", "-c", "%a %U", path, timeout=30)
    assert proc.returncode == 0, show(proc)
    return proc.stdout.strip()


def test_cookie_0400_and_secrets_private_inside_containers(stack: Compose) -> None:
    for node in ("rabbit1", "rabbit2", "rabbit3"):
        assert stat_in(stack, node, "/var/lib/rabbitmq/.erlang.cookie") == "400 rabbitmq"
        assert stat_in(stack, node, "/run/rabbitmq/definitions.json") == "400 rabbitmq"
        # The mounted secret keeps the host file's 0600: readable by root only.
        assert stat_in(stack, node, "/run/secrets/erlang_cookie").split()[0] in ("600", "400")
    for service in ("haproxy", "redis", "flower"):
        mounted = stack.exec(service, "sh", "-c", "stat -c '%a %U %n' /run/secrets/*", timeout=30)
        assert mounted.returncode == 0, show(mounted)
        for line in mounted.stdout.splitlines():
            assert line.split()[0] in ("600", "400"), f"{service}: {line}"
    for service in [s for s in stack.services() if s == "beat" or s.startswith("worker-")]:
        copies = stack.exec(service, "sh", "-c", "stat -c '%a %U %n' /run/celery-stack/secrets/*",
                            timeout=30)
        assert copies.returncode == 0, show(copies)
        lines = copies.stdout.splitlines()
        assert len(lines) == 2, f"{service}: {lines}"
        assert all(line.startswith("400 celery ") for line in lines), f"{service}: {lines}"


# ------------------------------------------------------------------ ports

def test_only_intended_ports_published_on_loopback(stack: Compose) -> None:
    for service, info in inspect(stack).items():
        bindings = {port: hosts for port, hosts in (info["NetworkSettings"]["Ports"] or {}).items()
                    if hosts}
        assert set(bindings) == PUBLISHED.get(service, set()), f"{service}: {bindings}"
        for port, hosts in bindings.items():
            assert {h["HostIp"] for h in hosts} == {BIND}, f"{service} {port}: {hosts}"
    # The Erlang distribution never leaves the internal network.
    for node in ("rabbit1", "rabbit2", "rabbit3"):
        for port in ("4369", "25672"):
            proc = stack.run("port", node, port, timeout=30, check=False)
            assert proc.returncode != 0 or not proc.stdout.strip(), show(proc)


# ------------------------------------------------------------------ users

def processes(container: dict) -> list[tuple[int, str]]:
    """(uid, command line) of PID 1 and its descendants (not docker exec / health checks)."""
    out = subprocess.run(["docker", "top", container["Id"], "-eo", "uid,pid,ppid,args"],
                         capture_output=True, text=True, timeout=30, check=True).stdout
    rows = []
    for line in out.splitlines()[1:]:
        uid, pid, ppid, args = line.split(None, 3)
        rows.append((int(uid), int(pid), int(ppid), args))
    tree = {container["State"]["Pid"]}
    changed = True
    while changed:
        changed = False
        for _, pid, ppid, _ in rows:
            if ppid in tree and pid not in tree:
                tree.add(pid)
                changed = True
    return [(uid, args) for uid, pid, _, args in rows if pid in tree]


def test_servers_run_as_non_root(stack: Compose) -> None:
    for service, info in inspect(stack).items():
        procs = processes(info)
        kind = "worker" if service.startswith("worker-") else service.rstrip("123")
        servers = [(uid, args) for uid, args in procs if SERVERS[kind] in args
                   and not any(r in args for r in ROOT_ALLOWED)]
        assert servers, f"{service}: no {SERVERS[kind]!r} process found in {procs}"
        root = [args for uid, args in procs if uid == 0
                and not any(allowed in args for allowed in ROOT_ALLOWED)]
        assert not root, f"{service}: running as root: {root}"
        assert all(uid != 0 for uid, _ in servers), f"{service}: {servers}"


def test_root_allow_list_is_still_needed(stack: Compose) -> None:
    """Each allow-listed root process exists (a stale entry would hide a future one)."""
    seen = {a for info in inspect(stack).values() for uid, args in processes(info) if uid == 0
            for a in ROOT_ALLOWED if a in args}
    assert seen == set(ROOT_ALLOWED), seen


def test_reuse_leaves_the_stack_whole(stack: Compose) -> None:
    """Last: the project is as healthy as the tests found it (make test reuses it)."""
    assert stack.all_healthy(), stack.dump()
