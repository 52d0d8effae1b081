"""Chaos suite: break the running compose stack on purpose and count every task.

``tasks`` runs inside the workers (a ledger in Redis), ``ledger`` publishes
with publisher confirms and reconciles, ``report`` renders the result,
``scenarios`` holds the seven failure scenarios and ``run`` is the entry
point (``python -m celery_stack.chaos.run``, used by ``make chaos``).
"""
