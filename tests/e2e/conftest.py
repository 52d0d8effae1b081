"""The whole compose stack, end to end, in a compose project of its own.

The session builds the images exactly as ``make up`` does, starts
``celery-stack-e2e`` (3 RabbitMQ nodes, HAProxy, Redis, Flower, beat and one
service per fleet) with ``up --wait`` on host ports of its own, so a running
``make up`` stack (project ``celery-stack``) is never touched, and always
removes it with ``down -v`` at the end, also when the start or a test fails
(then ``ps`` and the recent logs of every service are printed first).

Secrets and generated files are the repository's (``make e2e`` depends on
``compose-files``); passwords are read here only to log in, never printed.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SECRETS = REPO / "secrets"
PROJECT = "celery-stack-e2e"
FILES = ("compose/compose.yaml", "compose/generated/fleets.yaml")
DEFAULT_TOPOLOGY = REPO / "src/celery_stack/data/topology.yml"
# Host ports of this project: never the defaults a `make up` stack holds.
PORTS = {
    "AMQP_PORT": 35672,
    "MANAGEMENT_PORT": 35673,
    "HAPROXY_STATS_PORT": 38404,
    "FLOWER_PORT": 35555,
}
BIND = "127.0.0.1"
UP_TIMEOUT = 600
BUILD_TIMEOUT = 1800
LOG_TAIL = 80


class StackError(RuntimeError):
    """The e2e stack could not be built, started or driven."""


def nofile() -> str:
    """What the Makefile exports: 65536 unless this host's hard limit is lower."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return "65536" if hard == resource.RLIM_INFINITY or hard >= 65536 else str(hard)


def compose_env() -> dict[str, str]:
    env = dict(os.environ)
    # pytest run by hand: the same defaults `make` exports.
    env.setdefault("CELERY_STACK_NOFILE", nofile())
    env.setdefault("CELERY_STACK_TOPOLOGY_FILE", str(DEFAULT_TOPOLOGY))
    env.pop("COMPOSE_PROJECT_NAME", None)
    env.pop("COMPOSE_FILE", None)
    env["CELERY_STACK_BIND"] = BIND
    env.update({k: str(v) for k, v in PORTS.items()})
    return env


def secret(name: str) -> str:
    """A generated secret's value (for logging in; never printed)."""
    path = SECRETS / name
    try:
        value = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise StackError(f"{path}: {exc.strerror}; run `make compose-files` first") from exc
    if not value:
        raise StackError(f"{path} is empty")
    return value


@dataclass
class Compose:
    """``docker compose -p celery-stack-e2e`` with this project's files and ports."""

    env: dict[str, str]

    @property
    def base(self) -> list[str]:
        cmd = ["docker", "compose", "-p", PROJECT]
        for f in FILES:
            cmd += ["-f", f]
        return cmd

    def run(self, *args: str, timeout: float = 120, check: bool = True,
            env: dict[str, str] | None = None, stdin: str | None = None,
            ) -> subprocess.CompletedProcess[str]:
        cmd = [*self.base, *args]
        try:
            proc = subprocess.run(cmd, cwd=REPO, env=env or self.env, input=stdin,
                                  capture_output=True, text=True, timeout=timeout,
                                  check=False)
        except subprocess.TimeoutExpired as exc:
            raise StackError(f"docker compose {' '.join(args[:4])}: no answer within "
                             f"{timeout:.0f} s") from exc
        if check and proc.returncode != 0:
            raise StackError(f"docker compose {' '.join(args[:4])} failed "
                             f"({proc.returncode}):\n{proc.stdout[-3000:]}\n"
                             f"{proc.stderr[-3000:]}")
        return proc

    def exec(self, service: str, *cmd: str, env: tuple[str, ...] = (),
             timeout: float = 120, caller_env: dict[str, str] | None = None,
             ) -> subprocess.CompletedProcess[str]:
        """``exec -T`` without raising; ``env`` items are ``-e`` arguments."""
        flags = [x for e in env for x in ("-e", e)]
        run_env = {**self.env, **caller_env} if caller_env else None
        return self.run("exec", "-T", *flags, service, *cmd, timeout=timeout, check=False,
                        env=run_env)

    def container(self, service: str) -> str:
        cid = self.run("ps", "-a", "-q", service, timeout=30).stdout.strip()
        if not cid:
            raise StackError(f"no container for service {service}")
        return cid

    def health(self, service: str) -> str:
        cid = self.container(service)
        proc = subprocess.run(
            ["docker", "inspect", "-f",
             "{{.State.Status}}/{{if .State.Health}}{{.State.Health.Status}}{{end}}", cid],
            capture_output=True, text=True, timeout=30, check=False)
        return proc.stdout.strip()

    def wait_healthy(self, service: str, timeout: float) -> float:
        """Seconds until ``service`` is running and healthy (bounded)."""
        start = time.monotonic()
        state = ""
        while time.monotonic() - start < timeout:
            state = self.health(service)
            if state == "running/healthy":
                return time.monotonic() - start
            time.sleep(2)
        raise AssertionError(f"{service} not healthy within {timeout:.0f} s (last: {state})")

    def logs(self, *services: str, tail: int | None = None,
             timestamps: bool = False) -> str:
        args = ["logs", "--no-color", "--no-log-prefix"] if services else ["logs", "--no-color"]
        if timestamps:
            args.append("--timestamps")
        if tail is not None:
            args += ["--tail", str(tail)]
        return self.run(*args, *services, timeout=60, check=False).stdout

    def dump(self) -> str:
        ps = self.run("ps", "-a", timeout=30, check=False)
        logs = self.run("logs", "--no-color", "--timestamps", "--tail", str(LOG_TAIL),
                        timeout=60, check=False)
        return (f"----- docker compose -p {PROJECT} ps -a -----\n{ps.stdout}{ps.stderr}\n"
                f"----- docker compose -p {PROJECT} logs --tail {LOG_TAIL} -----\n"
                f"{logs.stdout}{logs.stderr}")

    def config(self) -> dict:
        return json.loads(self.run("config", "--format", "json", timeout=60).stdout)

    def down(self) -> subprocess.CompletedProcess[str]:
        return self.run("down", "-v", "--remove-orphans", "-t", "20", timeout=300, check=False)


def build_images(stack: Compose) -> None:
    """As `make up`: plain `docker build` of every image the config names."""
    config = stack.run("config", "--format", "json", timeout=60).stdout
    proc = subprocess.run([str(REPO / ".venv/bin/python"), "scripts/build_images.py"],
                          cwd=REPO, input=config, capture_output=True, text=True,
                          timeout=BUILD_TIMEOUT, check=False)
    if proc.returncode != 0:
        raise StackError(f"build_images.py failed:\n{proc.stderr[-5000:]}")


def leftovers() -> list[str]:
    """Containers, volumes and networks still labelled with this project."""
    found = []
    label = f"label=com.docker.compose.project={PROJECT}"
    for kind in (["ps", "-a"], ["volume", "ls"], ["network", "ls"]):
        out = subprocess.run(["docker", *kind, "-q", "-f", label], capture_output=True,
                             text=True, timeout=30, check=False).stdout.split()
        found += [f"{kind[0]} {x}" for x in out]
    return found


def report(config: pytest.Config, text: str) -> None:
    """Print past pytest's output capture (session teardown output is swallowed)."""
    capture = config.pluginmanager.getplugin("capturemanager")
    if capture is None:
        print(text)
        return
    with capture.global_and_fixture_disabled():
        print(f"\n{text}", flush=True)


@pytest.fixture(scope="session")
def stack(request: pytest.FixtureRequest) -> Iterator[Compose]:
    s = Compose(compose_env())
    failed_before = request.session.testsfailed
    ok = False
    try:
        # From scratch: whatever an interrupted earlier run left behind goes first.
        s.down()
        start = time.monotonic()
        build_images(s)
        built = time.monotonic()
        s.run("up", "-d", "--no-build", "--wait", "--wait-timeout", str(UP_TIMEOUT),
              "--remove-orphans", "--quiet-pull", timeout=UP_TIMEOUT + 120)
        report(request.config, f"e2e: images built in {built - start:.0f} s, "
                               f"stack healthy in {time.monotonic() - built:.0f} s")
        ok = True
        yield s
    finally:
        if not ok or request.session.testsfailed > failed_before:
            report(request.config, f"e2e: FAILED; state of project {PROJECT}:\n{s.dump()}")
        down = s.down()
        left = leftovers()
        if (down.returncode != 0 or left) and not ok:
            report(request.config, f"e2e: down -v failed ({down.returncode}): "
                                   f"{down.stderr[-2000:]}\nleft behind: {left}")
        elif down.returncode != 0 or left:
            raise StackError(f"down -v of project {PROJECT} failed ({down.returncode}): "
                             f"{down.stderr[-2000:]}\nleft behind: {left}")
