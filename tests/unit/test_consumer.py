"""celery_stack.consumer: delayed delivery via the first URL that answers; control in the loop."""

from types import SimpleNamespace

import pytest
from celery import Celery
from celery.worker.pidbox import gPidbox

from celery_stack import consumer
from celery_stack.consumer import ClusterDelayedDelivery, Consumer, LoopControl, failover_order

URLS = "amqp://u:p@lb:5672/v;amqp://u:p@mq1:5672/v;amqp://u:p@mq2:5672/v"


@pytest.fixture()
def step(monkeypatch):
    """The step with its broker calls recorded; URLs named in `down` refuse."""
    calls, down = [], set()
    s = ClusterDelayedDelivery.__new__(ClusterDelayedDelivery)

    def setup(c, url):
        calls.append(url.split("@")[1].split(":")[0])
        if calls[-1] in down:
            raise ConnectionRefusedError(111, "Connection refused")
    monkeypatch.setattr(s, "_validate_configuration", lambda app: None)
    monkeypatch.setattr(s, "_setup_delayed_delivery", setup)
    monkeypatch.setattr(consumer.DelayedDelivery, "start", lambda self, c: calls.append("walk"))
    return s, calls, down


def ctx():
    return SimpleNamespace(app=SimpleNamespace(conf=SimpleNamespace(broker_url=URLS)))


def test_failover_order_keeps_the_list_order():
    assert [u.split("@")[1][:3] for u in failover_order(URLS)] == ["lb:", "mq1", "mq2"]
    assert failover_order(["a", " ", "b "]) == ["a", "b"]


def test_the_first_url_that_answers_is_the_only_one_set_up(step):
    s, calls, down = step
    s.start(ctx())
    assert calls == ["lb"]
    calls.clear()
    down.add("lb")
    s.start(ctx())
    assert calls == ["lb", "mq1"]


def test_celerys_own_walk_only_when_no_url_answers(step):
    s, calls, down = step
    down.update({"lb", "mq1", "mq2"})
    s.start(ctx())
    assert calls == ["lb", "mq1", "mq2", "walk"]


def test_the_consumer_runs_these_steps_instead_of_celerys():
    steps = Consumer.Blueprint.default_steps
    assert "celery.worker.consumer.delayed_delivery:DelayedDelivery" not in steps
    assert "celery.worker.consumer.control:Control" not in steps
    assert "celery_stack.consumer:ClusterDelayedDelivery" in steps
    assert "celery_stack.consumer:LoopControl" in steps


@pytest.mark.parametrize("green", [True, False])
def test_remote_control_consumes_on_the_consumers_connection_for_every_pool(green):
    """No mailbox greenlet (gPidbox, its own connection) even for a green pool."""
    app = Celery("t", set_as_current=False)
    c = SimpleNamespace(app=app, hostname="w@h", pool=SimpleNamespace(is_green=green),
                        controller=SimpleNamespace(use_eventloop=not green))
    step = LoopControl(c)
    assert not isinstance(step.box, gPidbox)
    assert step.start == step.box.start and step.stop == step.box.stop
