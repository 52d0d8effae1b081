"""Watchdog: find hung Celery worker processes and restart only those, via Supervisor.

``decide`` holds the pure rules, ``probes`` asks Celery and the broker,
``supervisor_rpc`` talks to Supervisor, ``state`` persists what one run must
remember for the next, and ``run`` ties them together for ``celery-stack watchdog``.
"""
