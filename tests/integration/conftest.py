"""A real stack for the integration tests: RabbitMQ, Redis and a worker container.

The session builds the images (Docker's layer cache makes a rebuild quick),
generates fresh secrets and RabbitMQ definitions into a private temporary
directory, starts the containers on a network of their own and removes
everything afterwards, also when a test or the start itself fails. AMQP and
Redis are published on 127.0.0.1 only, on random ports, so the smoke probe
runs from this machine's venv exactly as an operator would run it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from celery_stack.derive import rabbitmq_users

REPO = Path(__file__).resolve().parents[2]
TOPOLOGY = Path(__file__).with_name("topology.yml")
# image tag -> (Dockerfile, build context); the worker installs the repository.
# Own tags: compose labels the images it builds, so sharing a tag with the
# stack would make the next `make up` see a new image and recreate services.
IMAGES = {
    "celery-stack/rabbitmq:it": ("compose/images/rabbitmq/Dockerfile",
                                 "compose/images/rabbitmq"),
    "celery-stack/redis:it": ("compose/images/redis/Dockerfile", "compose/images/redis"),
    "celery-stack/worker:it": ("compose/images/worker/Dockerfile", "."),
}
RABBITMQ_IMAGE, REDIS_IMAGE, WORKER_IMAGE = IMAGES
VHOST = "celery"
APP_USER = "celery-app"
REDIS_USER = "celery"
CONTAINER_TOPOLOGY = "/etc/celery-stack/topology.yml"
BUILD_TIMEOUT = 900
READY_TIMEOUT = 120
LABEL = "celery-stack.integration"  # leftovers: docker rm -f $(docker ps -aq -f label=...)

STATUS_LINE = re.compile(r"^(?P<name>\S+)\s+(?P<state>[A-Z]+)(?:\s+pid (?P<pid>\d+),)?")


class StackError(RuntimeError):
    """The stack could not be built or started."""


def docker(*args: str, timeout: float = 120, check: bool = True,
           ) -> subprocess.CompletedProcess[str]:
    try:
        proc = subprocess.run(["docker", *args], capture_output=True, text=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise StackError(f"docker {' '.join(args[:3])}: no answer within {timeout:.0f} s") from exc
    if check and proc.returncode != 0:
        raise StackError(f"docker {' '.join(args[:3])} failed ({proc.returncode}): "
                         f"{proc.stderr.strip()[-2000:]}")
    return proc


def host_cli() -> list[str]:
    """This venv's celery-stack console script, as an operator runs it."""
    script = Path(sys.executable).with_name("celery-stack")
    return [str(script)] if script.exists() else [sys.executable, "-m", "celery_stack.cli"]


@dataclass
class Stack:
    run_id: str
    network: str
    secrets: Path
    rabbitmq: str = ""
    redis: str = ""
    worker: str = ""
    host_env: dict[str, str] = field(default_factory=dict)

    @property
    def containers(self) -> list[str]:
        return [c for c in (self.rabbitmq, self.redis, self.worker) if c]

    def exec(self, container: str, *cmd: str, timeout: float = 60,
             ) -> subprocess.CompletedProcess[str]:
        return docker("exec", container, *cmd, timeout=timeout, check=False)

    def logs(self, tail: int = 150) -> str:
        parts = []
        for name in self.containers:
            proc = docker("logs", "--tail", str(tail), name, timeout=30, check=False)
            parts.append(f"----- docker logs {name} (last {tail} lines) -----\n"
                         f"{proc.stdout}{proc.stderr}")
        return "\n".join(parts)

    def supervisor_status(self) -> dict[str, tuple[str, int | None]]:
        """Supervisor process name -> (state, pid) in the worker container."""
        proc = self.exec(self.worker, "supervisorctl", "status")
        out: dict[str, tuple[str, int | None]] = {}
        for line in proc.stdout.splitlines():
            m = STATUS_LINE.match(line)
            if m:
                pid = m.group("pid")
                out[m.group("name")] = (m.group("state"), int(pid) if pid else None)
        if not out:
            raise StackError(f"supervisorctl status gave nothing usable: "
                             f"{proc.stdout}{proc.stderr}")
        return out

    def wait_all_running(self, timeout: float = 60) -> dict[str, tuple[str, int | None]]:
        deadline = time.monotonic() + timeout
        status: dict[str, tuple[str, int | None]] = {}
        while time.monotonic() < deadline:
            status = self.supervisor_status()
            if all(state == "RUNNING" for state, _ in status.values()):
                return status
            time.sleep(1)
        raise AssertionError(f"not every worker process RUNNING within {timeout:.0f} s: {status}")

    def smoke(self, timeout: float) -> subprocess.CompletedProcess[str]:
        """``celery-stack smoke`` from this machine against the published ports."""
        return subprocess.run([*host_cli(), "smoke", "--timeout", str(timeout)],
                              capture_output=True, text=True, env=self.host_env,
                              timeout=timeout + 60, check=False)


def build_images() -> None:
    docker("version", timeout=30)  # fails clearly when no engine runs
    for tag, (dockerfile, context) in IMAGES.items():
        start = time.monotonic()
        docker("build", "-q", "-t", tag, "-f", str(REPO / dockerfile), str(REPO / context),
               timeout=BUILD_TIMEOUT)
        print(f"built {tag} in {time.monotonic() - start:.1f} s")


def write_secrets(directory: Path) -> None:
    """Fresh secrets (the project's own generator) and the broker's definitions."""
    proc = subprocess.run([*host_cli(), "secrets", "ensure", str(directory)],
                          capture_output=True, text=True, timeout=60, check=False)
    if proc.returncode != 0:
        raise StackError(f"celery-stack secrets ensure failed: {proc.stderr}")
    topo = subprocess.run([*host_cli(), "render", "rabbitmq", "--topology", str(TOPOLOGY),
                           "--vhost", VHOST], capture_output=True, text=True, timeout=60,
                          check=False)
    if topo.returncode != 0:
        raise StackError(f"celery-stack render rabbitmq failed: {topo.stderr}")

    def password(name: str) -> str:
        return (directory / name).read_text(encoding="utf-8").strip()

    users = [
        rabbitmq_users.User("celery-admin", "admin", password("rabbitmq_admin_password")),
        rabbitmq_users.User(APP_USER, "application", password("rabbitmq_app_password")),
        rabbitmq_users.User("celery-monitoring", "monitoring",
                            password("rabbitmq_monitoring_password")),
    ]
    definitions = rabbitmq_users.merge(rabbitmq_users.definitions(VHOST, users),
                                       json.loads(topo.stdout))
    path = directory / "rabbitmq_definitions"
    # 0600 from creation: it holds password hashes.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(definitions, fh)


def secret_mount(stack: Stack, name: str) -> list[str]:
    return ["-v", f"{stack.secrets / name}:/run/secrets/{name}:ro"]


def published(container: str, port: str) -> str:
    """host:port of a published container port (bound to loopback only)."""
    out = docker("port", container, f"{port}/tcp").stdout.split()
    loopback = [a for a in out if a.startswith("127.0.0.1:")]
    if not loopback or len(loopback) != len(out):
        raise StackError(f"{container}:{port} is published on {out}, expected 127.0.0.1 only")
    return loopback[0]


def wait_until(stack: Stack, container: str, cmd: list[str], what: str,
               timeout: float = READY_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        state = docker("inspect", "-f", "{{.State.Status}}", container, check=False).stdout
        if state.strip() not in ("created", "running"):
            raise StackError(f"{what}: container {container} is {state.strip()}, not running")
        proc = stack.exec(container, *cmd, timeout=30)
        if proc.returncode == 0:
            return
        last = (proc.stdout + proc.stderr).strip()[-500:]
        time.sleep(1)
    raise StackError(f"{what}: not ready within {timeout:.0f} s: {last}")


def start(stack: Stack) -> None:
    run = ["run", "-d", "--network", stack.network, "--label", f"{LABEL}={stack.run_id}"]
    docker("network", "create", "--label", f"{LABEL}={stack.run_id}", stack.network)

    stack.rabbitmq = f"{stack.run_id}-rabbitmq"
    docker(*run, "--name", stack.rabbitmq, "--hostname", "rabbitmq",
           "--network-alias", "rabbitmq",
           "-e", "RABBITMQ_VM_MEMORY_HIGH_WATERMARK=512MiB",
           "-e", "RABBITMQ_DISK_FREE_LIMIT=512MiB",
           *secret_mount(stack, "erlang_cookie"), *secret_mount(stack, "rabbitmq_definitions"),
           "-p", "127.0.0.1::5672", RABBITMQ_IMAGE)
    stack.redis = f"{stack.run_id}-redis"
    docker(*run, "--name", stack.redis, "--hostname", "redis", "--network-alias", "redis",
           "-e", f"REDIS_USER={REDIS_USER}", *secret_mount(stack, "redis_password"),
           "-p", "127.0.0.1::6379", REDIS_IMAGE)
    wait_until(stack, stack.rabbitmq, ["rabbitmq-ready"], "rabbitmq")
    wait_until(stack, stack.redis, ["redis-health"], "redis")

    stack.worker = f"{stack.run_id}-worker"
    docker(*run, "--name", stack.worker, "--hostname", "worker",
           "-v", f"{TOPOLOGY}:{CONTAINER_TOPOLOGY}:ro",
           "-e", f"CELERY_STACK_TOPOLOGY={CONTAINER_TOPOLOGY}",
           "-e", "CELERY_STACK_BROKER_HOSTS=rabbitmq:5672",
           "-e", f"CELERY_STACK_BROKER_USER={APP_USER}",
           "-e", "CELERY_STACK_BROKER_PASSWORD_FILE=/run/secrets/rabbitmq_app_password",
           "-e", f"CELERY_STACK_BROKER_VHOST={VHOST}",
           "-e", "CELERY_STACK_REDIS_HOST=redis",
           "-e", f"CELERY_STACK_REDIS_USER={REDIS_USER}",
           "-e", "CELERY_STACK_REDIS_PASSWORD_FILE=/run/secrets/redis_password",
           *secret_mount(stack, "rabbitmq_app_password"), *secret_mount(stack, "redis_password"),
           WORKER_IMAGE)
    wait_until(stack, stack.worker, ["worker-health"], "worker")

    amqp = published(stack.rabbitmq, "5672")
    redis_host, redis_port = published(stack.redis, "6379").rsplit(":", 1)
    # Only this stack's settings: nothing from the caller's CELERY_STACK_* leaks in.
    env = {k: v for k, v in os.environ.items() if not k.startswith("CELERY_STACK_")}
    env.update({
        "CELERY_STACK_TOPOLOGY": str(TOPOLOGY),
        "CELERY_STACK_BROKER_HOSTS": amqp,
        "CELERY_STACK_BROKER_USER": APP_USER,
        "CELERY_STACK_BROKER_PASSWORD_FILE": str(stack.secrets / "rabbitmq_app_password"),
        "CELERY_STACK_BROKER_VHOST": VHOST,
        "CELERY_STACK_REDIS_HOST": redis_host,
        "CELERY_STACK_REDIS_PORT": redis_port,
        "CELERY_STACK_REDIS_USER": REDIS_USER,
        "CELERY_STACK_REDIS_PASSWORD_FILE": str(stack.secrets / "redis_password"),
    })
    stack.host_env = env


def remove(stack: Stack) -> None:
    for name in stack.containers:
        docker("rm", "-f", "-v", name, timeout=60, check=False)
    docker("network", "rm", stack.network, timeout=60, check=False)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    build_images()
    run_id = f"csit-{uuid.uuid4().hex[:8]}"
    secrets = tmp_path_factory.mktemp("secrets")
    secrets.chmod(0o700)
    write_secrets(secrets)
    s = Stack(run_id=run_id, network=f"{run_id}-net", secrets=secrets)
    try:
        try:
            start_time = time.monotonic()
            start(s)
            print(f"stack {run_id} ready in {time.monotonic() - start_time:.1f} s")
        except Exception as exc:
            # The containers are gone after cleanup: keep their logs in the error.
            raise StackError(f"{exc}\n\n{s.logs()}") from exc
        yield s
    finally:
        remove(s)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Attach every container's logs to a failing integration test's report."""
    report = yield
    stack_obj = getattr(item, "funcargs", {}).get("stack")
    if report.failed and isinstance(stack_obj, Stack):
        report.sections.append(("docker logs", stack_obj.logs()))
    return report
