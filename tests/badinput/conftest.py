"""Run `make up` with one bad input and record everything it could have changed.

Each case runs the real entry point (`make -s up`) in compose project
``celery-stack-badinput`` (CELERY_STACK_TEST_PROJECT overrides it: with
CELERY_STACK_TEST_REUSE=1, `make test` points it at the shared running stack,
so a bad input that slipped through would really recreate its containers),
on the shared stack's test ports (alone: free ports). Proof that nothing
changed, per case:

- a recording ``docker`` first on PATH logs every docker command make ran;
  only read-only ones (info, version, image inspect, ...) may appear;
- the project's containers (id, start time, status), volumes and networks;
- the generated files (compose/generated), the repository's secrets/ and the
  case's own secrets directory: name, mode, size, mtime and SHA-256.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path
from string import Template

import pytest

from celery_stack import secrets as secret_files
from celery_stack.testing.compose import BIND, REPO, nofile, ports, reuse_requested

PROJECT = os.environ.get("CELERY_STACK_TEST_PROJECT", "celery-stack-badinput")
MAKE_TIMEOUT = 120
# docker commands that change nothing (bootstrap's probes).
READ_ONLY = re.compile(r"^(info|version|compose version|image inspect|images|inspect|ps)\b")
# Variables a developer's shell may set that would change what `make up` does.
CLEARED = ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "COMPOSE_FILE", "COMPOSE_PROFILES", "TOPOLOGY",
           "SECRETS", "APP", "CELERY_STACK_TOPOLOGY_FILE", "CELERY_STACK_SECRETS_DIR",
           "RABBITMQ_MEMORY_WATERMARK", "RABBITMQ_MEM_LIMIT", "RABBITMQ_DISK_FREE_LIMIT",
           "REDIS_MAXMEMORY", "REDIS_MEM_LIMIT", "REDIS_MAXCLIENTS", "FLOWER_MAX_TASKS",
           "WORKER_MEM_LIMIT", "CELERY_STACK_NOFILE")


@dataclass
class Outcome:
    returncode: int
    output: str
    docker_calls: list[str]


def docker(*args: str) -> str:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=60,
                          check=True)
    return proc.stdout


def project_state(project: str) -> dict:
    """Containers (id, start time, status), volumes and networks of the project."""
    label = f"label=com.docker.compose.project={project}"
    ids = docker("ps", "-a", "-q", "--no-trunc", "-f", label).split()
    containers = {}
    if ids:
        for c in json.loads(docker("inspect", *ids)):
            containers[c["Name"]] = (c["Id"], c["State"]["StartedAt"], c["State"]["Status"],
                                     c["RestartCount"])
    return {
        "containers": containers,
        "volumes": sorted(docker("volume", "ls", "-q", "-f", label).split()),
        "networks": sorted(docker("network", "ls", "-q", "--no-trunc", "-f", label).split()),
    }


def files_state(*directories: Path) -> dict:
    """Every file under the directories: mode, size, mtime, SHA-256 (never the content)."""
    state = {}
    for directory in directories:
        if not directory.exists():
            state[str(directory)] = "absent"
            continue
        for path in sorted(directory.rglob("*")):
            info = path.lstat()
            digest = (hashlib.sha256(path.read_bytes()).hexdigest()
                      if stat.S_ISREG(info.st_mode) else "")
            state[str(path)] = (stat.filemode(info.st_mode), info.st_size, info.st_mtime_ns,
                                digest)
    return state


def free_port() -> int:
    """A TCP port nothing listens on at this moment (the kernel's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((BIND, 0))
        return sock.getsockname()[1]


def snapshot(project: str, *directories: Path) -> tuple[dict, dict]:
    """What a `make up` could change: the project's docker objects and the files."""
    return project_state(project), files_state(*directories)


def detected_changes(before: tuple[dict, dict], after: tuple[dict, dict],
                     docker_calls: list[str]) -> list[str]:
    """Every change the detectors see between two snapshots (empty: nothing changed)."""
    found = []
    changing = [c for c in docker_calls if not READ_ONLY.match(c)]
    if changing:
        found.append(f"docker commands that change things: {changing}")
    for kind in ("containers", "volumes", "networks"):
        if after[0][kind] != before[0][kind]:
            found.append(f"project {kind} changed: {before[0][kind]} -> {after[0][kind]}")
    moved = sorted(k for k in before[1].keys() | after[1].keys()
                   if before[1].get(k) != after[1].get(k))
    if moved:
        found.append(f"files changed: {moved}")
    return found


class Harness:
    """The environment of one `make up` run: test ports, own project, recording docker."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.bin = tmp / "bin"
        self.bin.mkdir()
        self.calls = tmp / "docker-calls.log"
        real = shutil.which("docker")
        assert real, "docker is not on PATH"
        shim = self.bin / "docker"
        shim.write_text('#!/bin/sh\nprintf "%s\\n" "$*" >> "$BAD_INPUT_DOCKER_LOG"\n'
                        f'exec {real} "$@"\n', encoding="utf-8")
        shim.chmod(0o755)
        # In make test (reuse): the shared stack's own ports, which the preflight
        # must accept. Alone: ports no other process holds right now (another
        # suite's stack may hold the test ports, and check-env rightly refuses that).
        self.ports = ({k: str(v) for k, v in ports().items()} if reuse_requested()
                      else {k: str(free_port()) for k in ports()})
        env = {k: v for k, v in os.environ.items() if k not in CLEARED}
        env.update(self.ports)
        env.update({
            "PATH": f"{self.bin}:{os.environ['PATH']}",
            "BAD_INPUT_DOCKER_LOG": str(self.calls),
            "COMPOSE_PROJECT_NAME": PROJECT,
            "CELERY_STACK_BIND": BIND,
            "CELERY_STACK_NOFILE": nofile(),
        })
        self.env = env

    def make(self, target: str, topology: Path | None = None, secrets_dir: Path | None = None,
             extra_env: dict[str, str] | None = None,
             values: dict[str, str] | None = None) -> Outcome:
        """`make -s target`; ``${NAME}`` in extra_env expands from the env and ``values``."""
        self.calls.write_text("", encoding="utf-8")
        env = dict(self.env)
        env.update({k: Template(v).substitute({**self.env, **(values or {})})
                    for k, v in (extra_env or {}).items()})
        cmd = ["make", "-s", target]
        if topology is not None:
            cmd.append(f"TOPOLOGY={topology}")
        if secrets_dir is not None:
            cmd.append(f"SECRETS={secrets_dir}")
        proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True,
                              timeout=MAKE_TIMEOUT, check=False)
        calls = self.calls.read_text(encoding="utf-8").splitlines()
        return Outcome(proc.returncode, proc.stdout + proc.stderr, calls)


@pytest.fixture(scope="session")
def shared_secrets(tmp_path_factory) -> Path:
    """Good secrets for the env and topology cases: the repository's when complete."""
    repo = REPO / "secrets"
    if all((repo / name).is_file() for name in secret_files.SECRETS):
        return repo
    directory = tmp_path_factory.mktemp("secrets") / "secrets"
    secret_files.ensure(directory)
    return directory


@pytest.fixture()
def harness(tmp_path) -> Harness:
    return Harness(tmp_path)
