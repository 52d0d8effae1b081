"""Broker and result-backend URLs from the environment.

Passwords come from ``*_FILE`` variables (compose secrets, files written by
Ansible with mode 0600) or, for development, from the plain variable. URLs
are built here so a password with '@' or '/' is always quoted correctly, and
so no caller ever has to write one into a config file.

Environment (all optional unless noted):
  CELERY_STACK_BROKER_URL          full URL(s), ';'-separated; wins over the parts below
  CELERY_STACK_BROKER_HOSTS        "host:port,host:port" (first = load balancer, rest = failover)
  CELERY_STACK_BROKER_USER         AMQP user
  CELERY_STACK_BROKER_PASSWORD[_FILE]
  CELERY_STACK_BROKER_VHOST        default "/"
  CELERY_STACK_RESULT_BACKEND      full URL; wins over the parts below
  CELERY_STACK_REDIS_HOST / _PORT / _DB / _USER / _PASSWORD[_FILE]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from urllib.parse import quote

Reader = Callable[[str], str]


class SettingsError(ValueError):
    """A required environment variable is missing or unusable."""


def read_file(path: str) -> str:
    return Path(path).read_text(encoding="utf-8").strip()


def secret(env: Mapping[str, str], name: str, read: Reader = read_file) -> str | None:
    """Value of ``name`` or of the file named by ``name_FILE`` (the file wins)."""
    path = env.get(f"{name}_FILE")
    if path:
        try:
            return read(path)
        except OSError as exc:
            raise SettingsError(f"{name}_FILE: cannot read {path}: {exc.strerror}") from exc
    return env.get(name) or None


def broker_urls(env: Mapping[str, str], read: Reader = read_file) -> list[str]:
    full = env.get("CELERY_STACK_BROKER_URL")
    if full:
        return [u.strip() for u in full.split(";") if u.strip()]
    hosts = [h.strip() for h in env.get("CELERY_STACK_BROKER_HOSTS", "").split(",") if h.strip()]
    if not hosts:
        raise SettingsError(
            "CELERY_STACK_BROKER_HOSTS: not set; give 'host:port[,host:port...]' "
            "(or CELERY_STACK_BROKER_URL)"
        )
    user = env.get("CELERY_STACK_BROKER_USER")
    password = secret(env, "CELERY_STACK_BROKER_PASSWORD", read)
    if not user or not password:
        raise SettingsError(
            "CELERY_STACK_BROKER_USER / CELERY_STACK_BROKER_PASSWORD_FILE: both are required; "
            "the broker has no anonymous or default user"
        )
    vhost = quote(env.get("CELERY_STACK_BROKER_VHOST", "/"), safe="")
    auth = f"{quote(user, safe='')}:{quote(password, safe='')}"
    return [f"amqp://{auth}@{host}/{vhost}" for host in hosts]


def result_backend(env: Mapping[str, str], read: Reader = read_file) -> str | None:
    full = env.get("CELERY_STACK_RESULT_BACKEND")
    if full:
        return full
    host = env.get("CELERY_STACK_REDIS_HOST")
    if not host:
        return None
    password = secret(env, "CELERY_STACK_REDIS_PASSWORD", read)
    if not password:
        raise SettingsError(
            "CELERY_STACK_REDIS_PASSWORD_FILE: required when CELERY_STACK_REDIS_HOST is set; "
            "Redis must not run without auth"
        )
    user = quote(env.get("CELERY_STACK_REDIS_USER", ""), safe="")
    port = env.get("CELERY_STACK_REDIS_PORT", "6379")
    db = env.get("CELERY_STACK_REDIS_DB", "0")
    return f"redis://{user}:{quote(password, safe='')}@{host}:{port}/{db}"


def redact(url: str) -> str:
    """``url`` with its password replaced, for logs and rendered output."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    auth, _, tail = rest.rpartition("@")
    user = auth.split(":", 1)[0]
    return f"{scheme}://{user}:***@{tail}"
