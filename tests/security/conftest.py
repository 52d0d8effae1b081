"""The running stack of the security checks: project ``celery-stack-security``.

Built and started like ``make up`` by ``celery_stack.testing.compose`` on
ports of its own (CELERY_STACK_TEST_PORT_OFFSET), removed afterwards; with
CELERY_STACK_TEST_REUSE=1 a healthy project (CELERY_STACK_TEST_PROJECT) is
reused and left running. The static checks need no stack.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from celery_stack.testing.compose import Compose, session_stack


@pytest.fixture(scope="session")
def stack(request: pytest.FixtureRequest) -> Iterator[Compose]:
    yield from session_stack(request, "celery-stack-security")
