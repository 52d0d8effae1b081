"""Drive one compose project of the stack from tests, the chaos suite and the benchmark.

Every suite runs the stack exactly as ``make up`` does (same files, same
images built with plain ``docker build``), but in a compose project and on
host ports of its own, so suites never touch a developer's ``make up`` stack
or each other:

- ``CELERY_STACK_TEST_PROJECT`` names the project (each suite has a default);
- ``CELERY_STACK_TEST_PORT_OFFSET`` shifts the four published ports;
- ``CELERY_STACK_TEST_REUSE=1`` keeps a healthy project running between
  suites (``make test`` starts it once; ``make test-stack-down`` removes it),
  but only while its containers run the images the current tree builds
  (image ids compared after a cached build); otherwise it is recreated.

Secrets are the repository's generated ones, read only to log in, never printed.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
SECRETS = REPO / "secrets"
FILES = ("compose/compose.yaml", "compose/generated/fleets.yaml")
DEFAULT_TOPOLOGY = REPO / "src/celery_stack/data/topology.yml"
# Published ports of a test project: never the defaults a `make up` stack holds.
BASE_PORTS = {
    "AMQP_PORT": 35672,
    "MANAGEMENT_PORT": 35673,
    "HAPROXY_STATS_PORT": 38404,
    "FLOWER_PORT": 35555,
}
BIND = "127.0.0.1"
UP_TIMEOUT = 600
BUILD_TIMEOUT = 1800
LOG_TAIL = 80
# Log lines shown of a container that restarted or failed during `up`.
CRASH_TAIL = 40
# The broker services that must form one cluster when all of them run.
CLUSTER = ("rabbit1", "rabbit2", "rabbit3")
# Seconds it may take them, as `make up` allows.
CLUSTER_WAIT = 60


class StackError(RuntimeError):
    """The stack could not be built, started or driven."""


def nofile() -> str:
    """What the Makefile exports: 65536 unless this host's hard limit is lower."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return "65536" if hard == resource.RLIM_INFINITY or hard >= 65536 else str(hard)


def ports(offset: int | None = None) -> dict[str, int]:
    if offset is None:
        offset = int(os.environ.get("CELERY_STACK_TEST_PORT_OFFSET", "0"))
    return {k: v + offset for k, v in BASE_PORTS.items()}


def compose_env(port_map: dict[str, int], extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    # Run by hand (not through make): the same defaults `make` exports.
    env.setdefault("CELERY_STACK_NOFILE", nofile())
    env.setdefault("CELERY_STACK_TOPOLOGY_FILE", str(DEFAULT_TOPOLOGY))
    env.pop("COMPOSE_PROJECT_NAME", None)
    env.pop("COMPOSE_FILE", None)
    env["CELERY_STACK_BIND"] = BIND
    env.update({k: str(v) for k, v in port_map.items()})
    env.update(extra or {})
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
    """``docker compose -p <project>`` with the stack's files and this project's ports."""

    project: str
    env: dict[str, str]
    files: tuple[str, ...] = FILES
    port_map: dict[str, int] = field(default_factory=dict)

    @property
    def base(self) -> list[str]:
        cmd = ["docker", "compose", "-p", self.project]
        for f in self.files:
            cmd += ["-f", f]
        return cmd

    def url(self, port_var: str, path: str = "/") -> str:
        return f"http://{BIND}:{self.port_map[port_var]}{path}"

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

    def services(self) -> list[str]:
        return sorted(self.config()["services"])

    def all_healthy(self) -> bool:
        """Every service of the config has a running, healthy container."""
        try:
            return all(self.health(s) == "running/healthy" for s in self.services())
        except StackError:
            return False

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
        return (f"----- docker compose -p {self.project} ps -a -----\n{ps.stdout}{ps.stderr}\n"
                f"----- docker compose -p {self.project} logs --tail {LOG_TAIL} -----\n"
                f"{logs.stdout}{logs.stderr}")

    def config(self) -> dict:
        return json.loads(self.run("config", "--format", "json", timeout=60).stdout)

    def build(self) -> None:
        """As `make up`: plain `docker build` of every image the config names."""
        config = self.run("config", "--format", "json", timeout=60).stdout
        proc = subprocess.run([sys.executable, "scripts/build_images.py"],
                              cwd=REPO, input=config, capture_output=True, text=True,
                              timeout=BUILD_TIMEOUT, check=False)
        if proc.returncode != 0:
            raise StackError(f"build_images.py failed:\n{proc.stderr[-5000:]}")

    def image_ids(self) -> tuple[dict[str, str], dict[str, str]]:
        """(service -> image id its container runs, service -> id of the image it names now)."""
        running, tagged = {}, {}
        for name, service in sorted(self.config()["services"].items()):
            with contextlib.suppress(StackError):
                running[name] = _inspect("{{.Image}}", self.container(name))
            if service.get("image"):
                tagged[name] = _inspect("{{.Id}}", service["image"], "image")
        return running, tagged

    def up(self) -> None:
        """``up --wait``, then the brokers must form one cluster (a crash during the
        first formation can leave a node healthy but alone)."""
        try:
            self.run("up", "-d", "--no-build", "--wait", "--wait-timeout", str(UP_TIMEOUT),
                     "--remove-orphans", "--quiet-pull", timeout=UP_TIMEOUT + 120)
        except StackError as exc:
            raise StackError(f"{exc}\n{self.restarts_report()}") from exc
        self.require_one_cluster()

    def require_one_cluster(self) -> None:
        """When every broker service runs, the first one must see all of them running
        (the same `await_online_nodes` check as `make up`)."""
        running = set(self.run("ps", "--services", "--status", "running", timeout=30,
                               check=False).stdout.split())
        if not set(CLUSTER) <= running:
            return
        proc = self.exec(CLUSTER[0], "rabbitmqctl", "-q", "await_online_nodes",
                         str(len(CLUSTER)), "--timeout", str(CLUSTER_WAIT),
                         timeout=CLUSTER_WAIT + 30)
        if proc.returncode != 0:
            raise StackError(f"{CLUSTER[0]} does not see {len(CLUSTER)} running cluster members "
                             f"within {CLUSTER_WAIT} s: {proc.stdout.strip()} {proc.stderr.strip()}"
                             f"\n{self.restarts_report()}")

    def restarts_report(self) -> str:
        """State, restart count and log tail of each container that restarted or is not up."""
        lines = []
        for cid in self.run("ps", "-a", "-q", timeout=30, check=False).stdout.split():
            name, status, health, restarts, code, oom = (_inspect(
                "{{.Name}}|{{.State.Status}}|{{if .State.Health}}{{.State.Health.Status}}{{end}}"
                "|{{.RestartCount}}|{{.State.ExitCode}}|{{.State.OOMKilled}}", cid) + "|||||"
            ).split("|")[:6]
            lines.append(f"{name.lstrip('/')}: {status} {health or '(no healthcheck)'}, "
                         f"{restarts} restarts, last exit {code}, OOM-killed {oom}")
            if restarts != "0" or status != "running" or health not in ("", "healthy"):
                log = subprocess.run(["docker", "logs", cid], capture_output=True, text=True,
                                     timeout=60, check=False)
                text = (log.stdout + log.stderr).splitlines()
                # A crashed boot's reason is far from the end once the node restarted.
                errors = [x for x in text if "[error]" in x or "BOOT FAILED" in x][:CRASH_TAIL]
                lines += ["--- its first error lines ---", *errors,
                          f"--- its last {CRASH_TAIL} log lines ---", *text[-CRASH_TAIL:]]
        return "\n".join(lines)

    def down(self, stop_timeout: int = 20) -> subprocess.CompletedProcess[str]:
        return self.run("down", "-v", "--remove-orphans", "-t", str(stop_timeout), timeout=600,
                        check=False)

    def leftovers(self) -> list[str]:
        """Containers, volumes and networks still labelled with this project."""
        found = []
        label = f"label=com.docker.compose.project={self.project}"
        for kind in (["ps", "-a"], ["volume", "ls"], ["network", "ls"]):
            out = subprocess.run(["docker", *kind, "-q", "-f", label], capture_output=True,
                                 text=True, timeout=30, check=False).stdout.split()
            found += [f"{kind[0]} {x}" for x in out]
        return found


def project_stack(default_project: str, extra_env: dict[str, str] | None = None,
                  files: tuple[str, ...] = FILES) -> Compose:
    """The Compose of a suite: project and port offset from the environment."""
    project = os.environ.get("CELERY_STACK_TEST_PROJECT", default_project)
    port_map = ports()
    return Compose(project, compose_env(port_map, extra_env), files, port_map)


def say_past_capture(config, text: str) -> None:
    """Print past pytest's output capture (``config``: a pytest.Config)."""
    capture = config.pluginmanager.getplugin("capturemanager")
    if capture is None:
        print(text)
        return
    with capture.global_and_fixture_disabled():
        print(f"\n{text}", flush=True)


def reuse_requested() -> bool:
    return os.environ.get("CELERY_STACK_TEST_REUSE") == "1"


def _inspect(template: str, target: str, kind: str = "container") -> str:
    proc = subprocess.run(["docker", kind, "inspect", "-f", template, target],
                          capture_output=True, text=True, timeout=30, check=False)
    return proc.stdout.strip() if proc.returncode == 0 else ""


def stale_services(running: dict[str, str], tagged: dict[str, str]) -> list[str]:
    """Services whose container does not run the image the current tree builds (pure).

    ``running``: service -> image id of its container; ``tagged``: service ->
    id of the image its config names, just built from this tree. A service
    with no container, or an image id missing on either side, is stale too.
    """
    return sorted(name for name in set(running) | set(tagged)
                  if not running.get(name) or not tagged.get(name)
                  or running[name] != tagged[name])


def reuse_verdict(healthy: bool, stale: list[str]) -> tuple[bool, str]:
    """(reuse the running project?, why) for a project found under reuse (pure)."""
    if not healthy:
        return False, "not every service is running and healthy"
    if stale:
        return False, f"not the images this tree builds: {', '.join(stale)}"
    return True, "every service healthy and running the images this tree builds"


@contextlib.contextmanager
def running(stack: Compose, say: Callable[[str], None], failed: Callable[[], bool],
            ) -> Iterator[Compose]:
    """Start ``stack`` from scratch (or reuse it), yield it, then remove it.

    ``failed()`` tells whether a test failed meanwhile: then ``ps`` and the
    recent logs are shown before the project is removed. With reuse, a
    healthy project is kept as it is and left running afterwards.
    """
    reuse = reuse_requested()
    ok = False
    try:
        start = time.monotonic()
        verdict = (False, "reuse not requested")
        if reuse and stack.all_healthy():
            # A cached build is quick and gives the same ids when nothing changed;
            # a project left up by an older tree (or another branch) is recreated.
            stack.build()
            verdict = reuse_verdict(True, stale_services(*stack.image_ids()))
        elif reuse:
            verdict = reuse_verdict(False, [])
        if verdict[0]:
            say(f"{stack.project}: reusing the running project ({verdict[1]}; "
                f"checked in {time.monotonic() - start:.0f} s)")
        else:
            if reuse:
                say(f"{stack.project}: recreating it: {verdict[1]}")
            # From scratch: whatever an interrupted earlier run left behind goes first.
            stack.down()
            stack.build()
            built = time.monotonic()
            stack.up()
            say(f"{stack.project}: images built in {built - start:.0f} s, "
                f"stack healthy in {time.monotonic() - built:.0f} s")
        ok = True
        yield stack
    finally:
        if not ok or failed():
            say(f"{stack.project}: FAILED; state of the project:\n{stack.dump()}")
        if not (reuse and ok):
            down = stack.down()
            left = stack.leftovers()
            if down.returncode != 0 or left:
                message = (f"down -v of project {stack.project} failed ({down.returncode}): "
                           f"{down.stderr[-2000:]}\nleft behind: {left}")
                if ok:
                    raise StackError(message)
                say(message)


def session_stack(request, default_project: str) -> Iterator[Compose]:
    """Body of a suite's session fixture (``request``: pytest's FixtureRequest).

    ``yield from session_stack(request, "celery-stack-<suite>")``: the stack is
    running while the suite's tests run; logs are shown if one of them failed.
    """
    failed_before = request.session.testsfailed
    with running(project_stack(default_project),
                 lambda text: say_past_capture(request.config, text),
                 lambda: request.session.testsfailed > failed_before) as s:
        yield s
