"""The demo Celery application that fits the default topology.

Any application works the same way: create the app, then load the settings
derived from the topology with ``config_from_object``.
"""

from celery import Celery

# The chaos suite's ledger tasks ride along so `make chaos` can count every task.
app = Celery("demo", include=["celery_stack.demo.tasks", "celery_stack.chaos.tasks"])
app.config_from_object("celery_stack.celeryconfig")
