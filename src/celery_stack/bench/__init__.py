"""Side-by-side benchmark of the tuned stack against a naive Celery setup (make bench)."""
