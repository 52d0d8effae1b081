"""Celery configuration module: ``app.config_from_object("celery_stack.celeryconfig")``.

Loads the topology named by ``CELERY_STACK_TOPOLOGY`` (default: the packaged
demo topology) and exposes the derived settings as module attributes, for the
fleet named by ``CELERY_STACK_FLEET`` (unset for producers and beat).
See ``celery_stack.derive.connections`` for the broker/backend variables.
"""

import os

# Imported for its worker_init handler: a worker whose Redis result backend has
# no connection errors to retry on refuses to start (celery_stack.backend_check).
from celery_stack import backend_check as _backend_check  # noqa: F401

# Imported for its worker_init handler: gevent workers keep the broker connect
# timeout Celery's consumer clears for them (celery_stack.connect_timeout).
from celery_stack import connect_timeout as _connect_timeout  # noqa: F401

# Imported for its worker_init handler: gevent workers log every greenlet's
# stack on SIGUSR2 (celery_stack.green_dump).
from celery_stack import green_dump as _green_dump  # noqa: F401
from celery_stack.derive import celery_settings
from celery_stack.topology import load

_topology = load(os.environ.get("CELERY_STACK_TOPOLOGY") or None)
globals().update(
    celery_settings.build(_topology, os.environ, os.environ.get("CELERY_STACK_FLEET") or None)
)
