"""Setup C's Celery app: the demo tasks, no routes, Celery's defaults."""

from celery import Celery

app = Celery("naive", include=["celery_stack.demo.tasks"])
app.config_from_object("naive_celeryconfig")
