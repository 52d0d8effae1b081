"""gevent workers log every greenlet's stack on SIGUSR2.

Under gevent, Celery's own stack dump (SIGUSR1) shows OS threads only, and
the worker's remote control runs in a greenlet of its own: a worker whose
consumer greenlet is stuck still answers ``celery inspect ping``. The only
way to see where it is stuck is the stack of every greenlet, which this
handler writes to the worker's log (`supervisorctl signal USR2 <program>`).
Celery leaves SIGUSR2 alone unless CELERY_RDBSIG is set (remote debugger).
"""

from __future__ import annotations

import signal

from celery import signals
from celery.utils.log import get_logger
from kombu.utils.compat import _detect_environment

logger = get_logger(__name__)


def dump() -> None:
    from gevent.util import format_run_info  # only in gevent workers

    logger.warning("SIGUSR2: every greenlet's stack follows\n%s", "\n".join(format_run_info()))


@signals.worker_init.connect
def install(**_) -> None:
    if _detect_environment() != "gevent":
        return
    import gevent

    # A gevent signal watcher: the handler runs in the hub, whatever greenlet is stuck.
    gevent.signal_handler(signal.SIGUSR2, dump)
