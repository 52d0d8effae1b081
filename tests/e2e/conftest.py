"""The whole compose stack, end to end, in a compose project of its own.

The session builds the images exactly as ``make up`` does and starts
``celery-stack-e2e`` (3 RabbitMQ nodes, HAProxy, Redis, Flower, beat and one
service per fleet) with ``up --wait`` on host ports of its own, so a running
``make up`` stack (project ``celery-stack``) is never touched, and removes it
with ``down -v`` at the end, also when the start or a test fails (then ``ps``
and the recent logs of every service are printed first). The driver and its
environment knobs are in ``celery_stack.testing.compose``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from celery_stack.testing.compose import (
    BIND,
    Compose,
    StackError,
    ports,
    secret,
    session_stack,
)

__all__ = ["BIND", "PORTS", "Compose", "StackError", "secret"]

PORTS = ports()


@pytest.fixture(scope="session")
def stack(request: pytest.FixtureRequest) -> Iterator[Compose]:
    yield from session_stack(request, "celery-stack-e2e")
