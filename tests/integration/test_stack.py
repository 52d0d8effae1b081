"""The platform end to end: real RabbitMQ, Redis, Supervisor and Celery workers.

Acceptance: smoke passes with every fleet up, fails naming the queue whose
fleet is stopped, and the watchdog restarts exactly the process that hangs.
Run: .venv/bin/pytest tests/integration -m integration
"""

from __future__ import annotations

import json
import re
import subprocess
import time

import pytest
import redis

from .conftest import (
    APP_USER,
    RABBITMQ_IMAGE,
    REDIS_USER,
    WORKER_IMAGE,
    Stack,
    docker,
    published,
)

pytestmark = pytest.mark.integration

QUEUES = ("default", "priority", "bulk")
HUNG = "celery-priority:celery-priority-00"
# stopwaitsecs (25: the most a stop may take, though the watchdog continues a
# SIGSTOPped worker so it stops warmly) + startsecs (10) + pings, with room to spare.
WATCHDOG_TIMEOUT = 150


def smoke_rows(output: str) -> dict[str, str]:
    """Queue -> RESULT column of ``celery-stack smoke``'s table."""
    rows = {}
    for line in output.splitlines():
        # QUEUE  OWNER FLEETS  SERVED BY  NODE  RESULT (the result may contain spaces)
        parts = line.split(None, 4)
        if len(parts) == 5 and parts[0] in QUEUES:
            rows[parts[0]] = parts[4]
    return rows


def show(proc: subprocess.CompletedProcess[str]) -> str:
    return f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"


def test_smoke_passes_when_every_fleet_runs(stack: Stack) -> None:
    stack.wait_all_running()
    proc = stack.smoke(timeout=60)
    assert proc.returncode == 0, show(proc)
    rows = smoke_rows(proc.stdout)
    assert rows == dict.fromkeys(QUEUES, "ok"), show(proc)
    assert "every queue (3) served by its own fleet" in proc.stdout


def test_smoke_fails_naming_the_queue_whose_fleet_is_stopped(stack: Stack) -> None:
    stack.wait_all_running()
    stop = stack.exec(stack.worker, "supervisorctl", "stop", "celery-bulk:*", timeout=60)
    try:
        assert stop.returncode == 0, show(stop)
        status = stack.supervisor_status()
        assert status["celery-bulk:celery-bulk-00"][0] == "STOPPED", status
        proc = stack.smoke(timeout=15)
        assert proc.returncode != 0, show(proc)
        rows = smoke_rows(proc.stdout)
        assert set(rows) == set(QUEUES), show(proc)
        assert rows["bulk"].startswith("FAIL"), show(proc)
        assert rows["default"] == "ok", show(proc)
        assert rows["priority"] == "ok", show(proc)
        assert "FAILED for queue(s): bulk" in proc.stderr, show(proc)
    finally:
        # Leave the stack whole for the next test whatever happened above.
        stack.exec(stack.worker, "supervisorctl", "start", "celery-bulk:*", timeout=60)
    stack.wait_all_running()


def test_watchdog_restarts_exactly_the_hung_process(stack: Stack) -> None:
    before = stack.wait_all_running()
    assert {f"celery-{q}:celery-{q}-00" for q in QUEUES} <= set(before), before
    hung_pid = before[HUNG][1]
    # SIGSTOP: the process stays alive (Supervisor still says RUNNING) but
    # answers nothing: the hung worker the watchdog exists for.
    stop = stack.exec(stack.worker, "sh", "-c", f"kill -STOP {hung_pid}")
    assert stop.returncode == 0, show(stop)
    try:
        assert stack.supervisor_status()[HUNG] == ("RUNNING", hung_pid)
        proc = stack.exec(stack.worker, "celery-stack", "watchdog", "--unresponsive-after", "0",
                          "--startup-grace", "0", "--ping-timeout", "3",
                          timeout=WATCHDOG_TIMEOUT)
        assert proc.returncode == 0, show(proc)
        restarted = [line for line in proc.stdout.splitlines() if " restart:" in line]
        assert len(restarted) == 1, show(proc)
        assert HUNG in restarted[0], show(proc)
        # It continued the stopped process first, so Supervisor's TERM reached it.
        continued = [line for line in proc.stdout.splitlines() if "was stopped by a signal" in line]
        assert len(continued) == 1 and HUNG in continued[0] and str(hung_pid) in continued[0], \
            show(proc)
    finally:
        # If the watchdog did not act, do not leave a stopped process behind.
        stack.exec(stack.worker, "sh", "-c", f"kill -CONT {hung_pid} 2>/dev/null || true")
    after = stack.wait_all_running(timeout=60)
    assert set(after) == set(before), after
    assert after[HUNG][1] != hung_pid, (before, after)
    for name, (_, pid) in before.items():
        if name != HUNG:
            assert after[name] == ("RUNNING", pid), f"{name} was touched: {before} -> {after}"
    # The restarted process serves its queue again.
    proc = stack.smoke(timeout=60)
    assert proc.returncode == 0, show(proc)


def test_rabbitmq_has_only_the_defined_users_and_a_private_cookie(stack: Stack) -> None:
    users = stack.exec(stack.rabbitmq, "rabbitmqctl", "-q", "list_users", "--formatter", "json")
    assert users.returncode == 0, show(users)
    tags = {u["user"]: u["tags"] for u in json.loads(users.stdout)}
    assert tags == {"celery-admin": ["administrator"], APP_USER: [],
                    "celery-monitoring": ["monitoring"]}, tags
    cookie = stack.exec(stack.rabbitmq, "stat", "-c", "%U %a",
                        "/var/lib/rabbitmq/.erlang.cookie")
    assert cookie.stdout.split() == ["rabbitmq", "400"], show(cookie)
    server_uid = stack.exec(stack.rabbitmq, "sh", "-c", "awk '/^Uid/{print $2}' /proc/1/status")
    rabbit_uid = stack.exec(stack.rabbitmq, "id", "-u", "rabbitmq")
    assert server_uid.stdout.strip() == rabbit_uid.stdout.strip() != "0"
    # Only AMQP is published, and only on loopback.
    assert published(stack.rabbitmq, "5672").startswith("127.0.0.1:")
    ports = docker("port", stack.rabbitmq).stdout
    assert re.findall(r"^(\d+)/tcp", ports, re.MULTILINE) == ["5672"], ports


@pytest.mark.parametrize("cookie, message", [
    ("short", "shorter than 32 characters"),
    (None, "missing or unreadable"),
])
def test_rabbitmq_refuses_to_start_without_a_good_cookie(stack: Stack, cookie: str | None,
                                                         message: str) -> None:
    mounts = ["-v", f"{stack.secrets / 'rabbitmq_definitions'}:/run/secrets/"
              "rabbitmq_definitions:ro"]
    if cookie is not None:
        path = stack.secrets / "bad_cookie"
        path.write_text(cookie, encoding="utf-8")
        mounts += ["-v", f"{path}:/run/secrets/erlang_cookie:ro"]
    proc = docker("run", "--rm", "--network", "none", *mounts, RABBITMQ_IMAGE,
                  timeout=60, check=False)
    assert proc.returncode != 0, show(proc)
    assert message in proc.stderr, show(proc)


def test_redis_denies_dangerous_commands_to_the_app_user(stack: Stack) -> None:
    host, port = published(stack.redis, "6379").rsplit(":", 1)
    password = (stack.secrets / "redis_password").read_text(encoding="utf-8").strip()
    app = redis.Redis(host=host, port=int(port), username=REDIS_USER, password=password,
                      socket_timeout=10)
    try:
        assert app.set("celery-stack-it", "1") is True
        assert app.get("celery-stack-it") == b"1"
        for command in (("FLUSHALL",), ("FLUSHDB",), ("CONFIG", "GET", "maxclients"),
                        ("KEYS", "*"), ("DEBUG", "SLEEP", "0")):
            with pytest.raises(redis.exceptions.ResponseError) as denied:
                app.execute_command(*command)
            # DEBUG is also refused before the ACL (enable-debug-command no).
            assert (isinstance(denied.value, redis.exceptions.NoPermissionError)
                    or "DEBUG command not allowed" in str(denied.value)), (command, denied.value)
        app.delete("celery-stack-it")
    finally:
        app.close()
    anonymous = redis.Redis(host=host, port=int(port), socket_timeout=10)
    try:
        with pytest.raises(redis.exceptions.AuthenticationError):
            anonymous.ping()
    finally:
        anonymous.close()
    config = stack.exec(stack.redis, "cat", "/run/redis/redis.conf")
    assert "appendonly yes" in config.stdout and "appendfsync everysec" in config.stdout
    assert password not in config.stdout  # only its SHA-256 is written


def test_worker_programs_run_as_celery_behind_a_root_only_socket(stack: Stack) -> None:
    status = stack.wait_all_running()
    uid = stack.exec(stack.worker, "id", "-u", "celery").stdout.strip()
    for name, (_, pid) in status.items():
        line = stack.exec(stack.worker, "sh", "-c", f"grep '^Uid' /proc/{pid}/status").stdout
        assert line.split()[1] == uid != "0", f"{name}: {line}"
    sock = stack.exec(stack.worker, "stat", "-c", "%U %a", "/run/supervisor.sock")
    assert sock.stdout.split() == ["root", "700"], show(sock)
    assert docker("inspect", "-f", "{{.Config.Image}}", stack.worker).stdout.strip() == WORKER_IMAGE


def test_docker_healthchecks_report_healthy(stack: Stack) -> None:
    """The images' own HEALTHCHECKs (what compose depends_on waits for) pass."""
    deadline = time.monotonic() + 90
    health: dict[str, str] = {}
    while time.monotonic() < deadline:
        health = {c: docker("inspect", "-f", "{{.State.Health.Status}}", c).stdout.strip()
                  for c in stack.containers}
        if set(health.values()) == {"healthy"}:
            return
        time.sleep(2)
    raise AssertionError(f"not healthy within 90 s: {health}")


def test_no_secret_appears_in_any_container_log(stack: Stack) -> None:
    logs = "\n".join(docker("logs", c).stdout + docker("logs", c).stderr
                     for c in stack.containers)
    for path in stack.secrets.iterdir():
        if path.name in ("rabbitmq_definitions", "bad_cookie"):
            continue
        value = path.read_text(encoding="utf-8").strip()
        assert value not in logs, f"the value of {path.name} appears in a container log"


def test_watchdog_restarts_nothing_when_every_process_is_silent(stack: Stack) -> None:
    """Issue 11: all fleet processes of a host silent at once is shared trouble
    (broker, network, overload): the watchdog holds, says why, keeps every pid."""
    before = stack.wait_all_running()
    fleet = {n: pid for n, (_, pid) in before.items() if n.startswith(tuple(
        f"celery-{q}:" for q in QUEUES))}
    assert len(fleet) >= 2, before
    pids = " ".join(str(p) for p in fleet.values())
    stop = stack.exec(stack.worker, "sh", "-c", f"kill -STOP {pids}")
    assert stop.returncode == 0, show(stop)
    try:
        # The most eager settings: without the rule, every process would go.
        proc = stack.exec(stack.worker, "celery-stack", "watchdog", "--unresponsive-after", "0",
                          "--startup-grace", "0", "--ping-timeout", "3",
                          timeout=WATCHDOG_TIMEOUT)
        assert proc.returncode == 0, show(proc)
        lines = proc.stdout.splitlines()
        assert not [x for x in lines if " restart:" in x], show(proc)
        held = [x for x in lines if " hold:" in x]
        assert {n for n in fleet if any(n in x for x in held)} == set(fleet), show(proc)
        assert all(f"all {len(fleet)} processes on this host are silent at once" in x
                   for x in held), show(proc)
    finally:
        # Cleanup, not a check: never leave stopped processes behind (a pid the
        # watchdog replaced is gone, so kill may fail; the pids are checked below).
        stack.exec(stack.worker, "sh", "-c", f"kill -CONT {pids} 2>/dev/null || true")
    after = stack.wait_all_running(timeout=60)
    assert after == before, f"a process was touched: {before} -> {after}"
    proc = stack.smoke(timeout=60)
    assert proc.returncode == 0, show(proc)
