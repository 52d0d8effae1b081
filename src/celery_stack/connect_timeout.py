"""gevent workers keep the broker connect timeout Celery takes away from them.

Celery's consumer sets ``broker_connection_timeout`` to None when it runs under
gevent (celery/worker/consumer/consumer.py, for a gevent bug of 2013). With no
timeout, a connect whose TCP peer accepts but never sends AMQP's
Connection.Start waits forever: HAProxy accepts the client at once and hands
it to a node that is still stopping or booting. Seen here after two of three
nodes restarted: the net fleet logged "Connection to broker lost", then
nothing, its main greenlet blocked in amqp's handshake read, every socket's
timeout None, until the watchdog restarted it (docs/topology.md, "Gevent
fleets"). The configured value is read at worker_init, before the consumer
overwrites it, and put back by a consumer bootstep created right after.
"""

from __future__ import annotations

from celery import bootsteps, signals

# The value each app had at worker_init, by app id (one app per worker process).
_CONFIGURED: dict[int, float | None] = {}


class RestoreConnectTimeout(bootsteps.Step):
    """Puts back the broker connect timeout the consumer cleared (before it connects)."""

    name = "celery-stack restore broker_connection_timeout"

    def __init__(self, parent, **kwargs):
        super().__init__(parent, **kwargs)
        configured = _CONFIGURED.get(id(parent.app))
        if configured and parent.app.conf.broker_connection_timeout is None:
            parent.app.conf.broker_connection_timeout = configured


@signals.worker_init.connect
def keep_connect_timeout(sender, **_) -> None:
    app = sender.app
    _CONFIGURED[id(app)] = app.conf.broker_connection_timeout
    app.steps["consumer"].add(RestoreConnectTimeout)
