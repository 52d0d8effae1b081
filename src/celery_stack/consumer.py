"""The workers' consumer: native delayed delivery set up once per cluster, not once per URL.

Celery's DelayedDelivery bootstep declares its exchanges and bindings through
every URL of ``broker_url``, retrying each one (1, 3 and 5 s sleeps) before
the consumer's loop starts. The stack's list is HAProxy, then every node of
one cluster as failover, so after a node stops every worker restart first
spends those retries on the stopped node: measured on Debian 12 molecule
hosts, 15-18 s with the task consumer registered but no task processed
(longer when the node still accepts TCP but stays silent). Exchanges and
bindings are cluster-wide, so this step sets them up through the first URL
that answers, in failover order, and falls back to Celery's walk only when
none does. Selected by the ``worker_consumer`` setting
(celery_stack.derive.celery_settings).
"""

from __future__ import annotations

from typing import ClassVar

from celery.utils.log import get_logger
from celery.worker.consumer import Consumer as CeleryConsumer
from celery.worker.consumer.delayed_delivery import RETRIED_EXCEPTIONS, DelayedDelivery

logger = get_logger(__name__)
CELERY_STEP = "celery.worker.consumer.delayed_delivery:DelayedDelivery"


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


class Consumer(CeleryConsumer):
    """Celery's consumer with ClusterDelayedDelivery in place of DelayedDelivery."""

    class Blueprint(CeleryConsumer.Blueprint):
        default_steps: ClassVar[list[str]] = [
            f"{__name__}:ClusterDelayedDelivery" if s == CELERY_STEP else s
            for s in CeleryConsumer.Blueprint.default_steps]
