"""An application of your own: the only celery-stack line is config_from_object."""

from celery import Celery

app = Celery("thumbs", include=["thumbs.tasks"])
# Queues, routes, acks, prefetch, limits, broker/backend: all derived from the
# topology file named by CELERY_STACK_TOPOLOGY (see topology.yml here).
app.config_from_object("celery_stack.celeryconfig")
