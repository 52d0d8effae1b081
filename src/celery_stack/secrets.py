"""Generate the stack's secrets once, store them 0600, never overwrite or print them.

Used by ``make up`` (compose) through ``celery-stack secrets ensure DIR``.
Ansible generates its own on the controller for the sandbox and reads
``ansible-vault`` in real inventories.
"""

from __future__ import annotations

import os
import secrets
import string
from pathlib import Path

# Name -> length. The Erlang cookie is letters only (safe as an Erlang atom);
# passwords are URL-safe so they survive AMQP/Redis URLs without surprises.
SECRETS = {
    "erlang_cookie": 64,
    "rabbitmq_admin_password": 32,
    "rabbitmq_app_password": 32,
    "rabbitmq_monitoring_password": 32,
    "redis_password": 32,
    "flower_password": 32,
    "haproxy_stats_password": 32,
}
MIN_COOKIE_LENGTH = 32


def generate(name: str, length: int) -> str:
    if name == "erlang_cookie":
        alphabet = string.ascii_uppercase
        return "".join(secrets.choice(alphabet) for _ in range(length))
    return secrets.token_urlsafe(length)[:length]


def ensure(directory: Path) -> list[str]:
    """Create missing secret files; return the names created (never values)."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    created = []
    for name, length in SECRETS.items():
        path = directory / name
        if path.exists():
            # Existing secrets are kept as they are: data and clusters depend on them.
            os.chmod(path, 0o600)
            continue
        # O_EXCL: never clobber a file created concurrently; 0600 from the start.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(generate(name, length))
        created.append(name)
    return created


def check(directory: Path) -> list[str]:
    """Problems with existing secret files, each naming the file and the fix."""
    problems = []
    for name in SECRETS:
        path = directory / name
        if not path.exists():
            problems.append(f"{path}: missing; run 'make secrets' to generate it")
            continue
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            problems.append(f"{path}: mode {mode:04o} lets others read it; chmod 0600")
        value = path.read_text(encoding="utf-8").strip()
        if not value:
            problems.append(f"{path}: empty; delete it and run 'make secrets'")
        elif name == "erlang_cookie" and len(value) < MIN_COOKIE_LENGTH:
            problems.append(
                f"{path}: cookie of {len(value)} characters is too short to resist guessing; "
                f"use at least {MIN_COOKIE_LENGTH} (delete it and run 'make secrets' on a new "
                "cluster)"
            )
    return problems
