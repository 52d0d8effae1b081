"""check-env: a published host port another process already holds is refused, by name.

Each test binds a real listening socket on loopback (an ephemeral port the
kernel picks, so no fixed number can collide with anything on the machine).
The docker query is replaced by a stub: unit tests never talk to an engine.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest

from celery_stack import envcheck

LOOPBACK = "127.0.0.1"


@pytest.fixture()
def listener() -> Iterator[int]:
    """A TCP socket listening on loopback; yields its port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        sock.listen(1)
        yield sock.getsockname()[1]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def no_containers(port: int) -> list[tuple[str, str]]:
    return []


def env_with(amqp_port: int) -> dict[str, str]:
    # The other three ports: free ones, so only AMQP_PORT can be reported.
    env = {name: str(free_port()) for name in envcheck.PORTS}
    env.update(AMQP_PORT=str(amqp_port), CELERY_STACK_BIND=LOOPBACK)
    return env


def test_a_port_held_by_another_process_is_refused_naming_the_variable_and_the_fix(listener):
    errors = envcheck.check_ports_free(env_with(listener), containers=no_containers)
    assert len(errors) == 1, errors
    field, _, message = errors[0].partition(": ")
    assert field == "AMQP_PORT"
    assert f"{LOOPBACK}:{listener} is already in use" in message
    assert "make up AMQP_PORT=<free port>" in message
    # The holder is this test process, found through /proc.
    assert f"pid {os.getpid()} (" in message, message


def test_free_ports_pass(listener):
    env = env_with(free_port())
    assert envcheck.check_ports_free(env, containers=no_containers) == []


def test_a_port_held_by_this_stacks_own_container_is_not_refused(listener):
    """A rerun of `make up`: the stack's own HAProxy already publishes the port."""
    env = {**env_with(listener), "COMPOSE_PROJECT_NAME": "celery-stack-test"}

    def own(port: int) -> list[tuple[str, str]]:
        return [("celery-stack-test", "celery-stack-test-haproxy-1")] if port == listener else []

    assert envcheck.check_ports_free(env, containers=own) == []


def test_the_default_project_is_the_compose_files_name(listener):
    """Without COMPOSE_PROJECT_NAME, compose/compose.yaml's `name:` is the project."""
    compose = envcheck.Path(__file__).resolve().parents[2] / "compose/compose.yaml"
    name = next(line.split(":", 1)[1].strip() for line in
                compose.read_text(encoding="utf-8").splitlines() if line.startswith("name:"))

    def own(port: int) -> list[tuple[str, str]]:
        return [(name, f"{name}-flower-1")]

    assert envcheck.check_ports_free(env_with(listener), containers=own) == []


def test_a_port_held_by_another_projects_container_names_that_container(listener):
    def other(port: int) -> list[tuple[str, str]]:
        return [("someone-else", "someone-else-rabbit-1")]

    errors = envcheck.check_ports_free(env_with(listener), containers=other)
    assert len(errors) == 1 and errors[0].startswith("AMQP_PORT: "), errors
    assert "container someone-else-rabbit-1 of compose project someone-else" in errors[0]


def test_check_runs_the_port_check(listener, monkeypatch):
    """`celery-stack check-env` (envcheck.check) is what make up's preflight calls."""
    monkeypatch.setattr(envcheck, "publishing_containers", no_containers)
    errors = envcheck.check(env_with(listener), None)
    assert [e.split(":", 1)[0] for e in errors] == ["AMQP_PORT"], errors


def test_invalid_ports_are_left_to_check_env(listener):
    env = {**env_with(listener), "AMQP_PORT": "70000", "FLOWER_PORT": "x"}
    assert envcheck.check_ports_free(env, containers=no_containers) == []
