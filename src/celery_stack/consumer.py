"""The workers' consumer: delayed delivery set up once per cluster; remote control in the loop.

Celery's DelayedDelivery bootstep declares its exchanges and bindings through
every URL of ``broker_url``, retrying each one (1, 3 and 5 s sleeps) before
the consumer's loop starts. The stack's list is HAProxy, then every node of
one cluster as failover, so after a node stops every worker restart first
spends those retries on the stopped node: measured on Debian 12 molecule
hosts, 15-18 s with the task consumer registered but no task processed
(longer when the node still accepts TCP but stays silent). Exchanges and
bindings are cluster-wide, so this step sets them up through the first URL
that answers, in failover order, and falls back to Celery's walk only when
none does.

Remote control runs in the consumer's own loop for every pool. Celery gives
green pools (gevent) a mailbox greenlet with a connection of its own, so a
worker whose consumer greenlet is stuck still answers ``ping``: the watchdog
sees it alive while it serves nothing (a net fleet deaf for minutes in CI,
2026-12-07), and when only the mailbox's node goes the worker serves tasks
but answers no ping. Here the mailbox consumes on the consumer's connection,
as it does under prefork, so a ping answer means the loop that takes tasks
turns. Selected by the ``worker_consumer`` setting
(celery_stack.derive.celery_settings).
"""

from __future__ import annotations

from typing import ClassVar

from celery.utils.log import get_logger
from celery.worker import pidbox
from celery.worker.consumer import Consumer as CeleryConsumer
from celery.worker.consumer.control import Control
from celery.worker.consumer.delayed_delivery import RETRIED_EXCEPTIONS, DelayedDelivery

logger = get_logger(__name__)
# Celery's steps this consumer replaces, by the replacement's name in this module.
REPLACED = {"celery.worker.consumer.delayed_delivery:DelayedDelivery": "ClusterDelayedDelivery",
            "celery.worker.consumer.control:Control": "LoopControl"}


def failover_order(broker_url: str | list[str]) -> list[str]:
    """The URLs of ``broker_url`` in the order kombu fails over through them."""
    urls = broker_url.split(";") if isinstance(broker_url, str) else list(broker_url)
    return [u.strip() for u in urls if u.strip()]


class ClusterDelayedDelivery(DelayedDelivery):
    """DelayedDelivery through the first broker URL that answers (one cluster)."""

    def start(self, c) -> None:
        self._validate_configuration(c.app)
        for url in failover_order(c.app.conf.broker_url):
            try:
                self._setup_delayed_delivery(c, url)
            except RETRIED_EXCEPTIONS as exc:
                logger.info("delayed delivery: %s did not answer (%s); trying the next URL",
                            url.split("@")[-1], exc)
                continue
            return
        super().start(c)  # none answered: Celery's own walk, with its retries


class LoopControl(Control):
    """Remote control on the consumer's connection, answered by its loop, for every pool."""

    def __init__(self, c, **kwargs):
        super().__init__(c, **kwargs)
        if self.is_green:  # Celery chose its mailbox greenlet (gPidbox): use the loop's instead
            self.box = pidbox.Pidbox(c)
            self.start, self.stop, self.shutdown = self.box.start, self.box.stop, self.box.shutdown


class Consumer(CeleryConsumer):
    """Celery's consumer with the steps of REPLACED swapped for this module's."""

    class Blueprint(CeleryConsumer.Blueprint):
        default_steps: ClassVar[list[str]] = [
            f"{__name__}:{REPLACED[s]}" if s in REPLACED else s
            for s in CeleryConsumer.Blueprint.default_steps]
