"""A reused test project is reused only when it runs the images this tree builds.

``make test`` exports CELERY_STACK_TEST_REUSE=1: a project left up by an older
tree must be recreated, not tested (testing/compose.py ``running``).
"""

from __future__ import annotations

import subprocess

from celery_stack.testing.compose import reuse_verdict, running, stale_services

BUILT = {"worker-default": "sha256:aaa", "rabbit1": "sha256:bbb", "redis": "sha256:ccc"}


def test_same_images_are_reused():
    assert stale_services(dict(BUILT), BUILT) == []
    assert reuse_verdict(True, stale_services(dict(BUILT), BUILT))[0] is True


def test_a_container_on_an_older_image_forces_a_recreate():
    running = {**BUILT, "worker-default": "sha256:old"}
    stale = stale_services(running, BUILT)
    assert stale == ["worker-default"]
    ok, why = reuse_verdict(True, stale)
    assert ok is False and "worker-default" in why


def test_a_service_without_container_or_image_is_stale():
    running = {k: v for k, v in BUILT.items() if k != "redis"}
    assert stale_services(running, BUILT) == ["redis"]
    assert stale_services(BUILT, {**BUILT, "rabbit1": ""}) == ["rabbit1"]
    # A container of a service the current config no longer has.
    assert stale_services({**BUILT, "worker-gone": "sha256:ddd"}, BUILT) == ["worker-gone"]


def test_an_unhealthy_project_is_never_reused():
    ok, why = reuse_verdict(False, [])
    assert ok is False and "healthy" in why


class FakeStack:
    """Records what running() asks of a project (no Docker)."""

    project = "celery-stack-test"

    def __init__(self, running: dict[str, str]):
        self.running_ids, self.calls = running, []

    def all_healthy(self):
        return True

    def image_ids(self):
        return self.running_ids, BUILT

    def build(self):
        self.calls.append("build")

    def down(self):
        self.calls.append("down")
        return subprocess.CompletedProcess([], 0, "", "")

    def up(self):
        self.calls.append("up")

    def leftovers(self):
        return []

    def dump(self):
        return ""


def _run(monkeypatch, running_ids):
    monkeypatch.setenv("CELERY_STACK_TEST_REUSE", "1")
    stack, said = FakeStack(running_ids), []
    with running(stack, said.append, lambda: False):
        pass
    return stack.calls, said


def test_running_reuses_a_current_project_without_recreating_it(monkeypatch):
    calls, said = _run(monkeypatch, dict(BUILT))
    assert calls == ["build"]
    assert "reusing" in said[0]


def test_running_recreates_a_project_on_old_images(monkeypatch):
    calls, said = _run(monkeypatch, {**BUILT, "redis": "sha256:old"})
    assert calls[-2:] == ["build", "up"] and "down" in calls
    assert "recreating it" in said[0] and "redis" in said[0]
