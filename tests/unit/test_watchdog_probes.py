"""CeleryProber's translation of Celery replies, with a stub control API (no broker)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from celery_stack.topology import load
from celery_stack.watchdog import probes


class StubInspect:
    def __init__(self, replies):
        self.replies = replies

    def stats(self):
        return self.replies.get("stats")

    def active(self):
        return self.replies.get("active")


class StubControl:
    def __init__(self, replies, fail=False):
        self.replies, self.fail, self.calls = replies, fail, []

    def ping(self, destination, timeout):
        self.calls.append(("ping", destination, timeout))
        if self.fail:
            raise ConnectionRefusedError(111, "Connection refused")
        return self.replies.get("ping")

    def inspect(self, destination, timeout):
        self.calls.append(("inspect", destination, timeout))
        return StubInspect(self.replies)


def prober(replies, fail=False):
    app = SimpleNamespace(control=StubControl(replies, fail), conf=SimpleNamespace())
    return probes.CeleryProber(app, timeout=2.0)


def test_ping_returns_only_asked_nodes_that_replied():
    p = prober({"ping": [{"bulk-00@h": {"ok": "pong"}}, {"stranger@h": {"ok": "pong"}}]})
    assert p.ping(["bulk-00@h", "bulk-01@h"]) == {"bulk-00@h"}
    assert p.app.control.calls == [("ping", ["bulk-00@h", "bulk-01@h"], 2.0)]
    assert p.app.conf.broker_connection_timeout == 2.0  # a dead broker fails fast


def test_no_replies_mean_empty_answers_not_errors():
    p = prober({})
    assert p.ping(["bulk-00@h"]) == set()
    assert p.stats(["bulk-00@h"]) == {}
    assert p.active(["bulk-00@h"]) == {}


def test_stats_sum_per_task_totals_and_keep_uptime():
    p = prober({"stats": {"bulk-00@h": {"total": {"a": 3, "b": 4}, "uptime": 99},
                          "bulk-01@h": {"uptime": 5}}})
    assert p.stats(None) == {"bulk-00@h": (7, 99), "bulk-01@h": (0, 5)}


def test_active_counts_tasks():
    p = prober({"active": {"bulk-00@h": [{"id": "1"}, {"id": "2"}], "bulk-01@h": []}})
    assert p.active(["bulk-00@h", "bulk-01@h"]) == {"bulk-00@h": 2, "bulk-01@h": 0}


def test_nothing_is_asked_for_no_nodes():
    p = prober({})
    assert (p.ping([]), p.stats([]), p.active([])) == (set(), {}, {})
    assert p.app.control.calls == []


def test_broker_errors_become_probe_errors():
    with pytest.raises(probes.ProbeError, match="ping: ConnectionRefusedError"):
        prober({}, fail=True).ping(["bulk-00@h"])


def test_app_is_a_bare_app_configured_from_the_topology():
    topology = load(None)
    app = probes.make_app(topology, {"CELERY_STACK_BROKER_URL": "amqp://u:p@rabbit:5672//"})
    assert app.main == topology.app.name
    assert app.conf.broker_url == ["amqp://u:p@rabbit:5672//"]
    assert {q.name for q in app.conf.task_queues} == {q.name for q in topology.queues}
