"""RabbitMQ vhost, users and permissions in definitions format.

The output merges with ``rabbitmq.definitions`` into the one file a node
imports at boot (``load_definitions``). A node that imports definitions at
boot never seeds the ``guest`` user, so no default credentials exist.

Passwords never enter the file: each user gets a salted SHA-256 hash, the
format RabbitMQ itself stores (``rabbit_password_hashing_sha256``):
``base64(salt[4] + sha256(salt[4] + utf8(password)))``. A fresh random salt
per call means two renders differ even for the same password.

Roles (least privilege; a vhost is the isolation boundary):
- ``application``: configure/write/read everything in its own vhost (Celery
  declares task, event, pidbox and reply queues under generated names), no
  tags, so no management API or UI access and no other vhost.
- ``monitoring``: the ``monitoring`` tag (management API read access for
  Flower's broker_api, dashboards) and no access to any message.
- ``admin``: ``administrator`` tag and full permissions on the vhost, for
  operators; never used by applications.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .connections import Reader, SettingsError, read_file

HASHING_ALGORITHM = "rabbit_password_hashing_sha256"
SALT_BYTES = 4  # what RabbitMQ generates itself; it reads the salt from the hash


@dataclass(frozen=True)
class Role:
    tags: tuple[str, ...]
    configure: str
    write: str
    read: str


NOTHING = "^$"  # a regex that matches no resource name
ROLES: dict[str, Role] = {
    "application": Role((), ".*", ".*", ".*"),
    "monitoring": Role(("monitoring",), NOTHING, NOTHING, NOTHING),
    "admin": Role(("administrator",), ".*", ".*", ".*"),
}


@dataclass(frozen=True)
class User:
    name: str
    role: str
    password: str

    def __repr__(self) -> str:  # never print a password by accident
        return f"User(name={self.name!r}, role={self.role!r}, password='***')"


def password_hash(password: str, salt: bytes | None = None) -> str:
    """RabbitMQ's ``rabbit_password_hashing_sha256`` hash of ``password``."""
    salt = os.urandom(SALT_BYTES) if salt is None else salt
    digest = hashlib.sha256(salt + password.encode("utf-8")).digest()
    return base64.b64encode(salt + digest).decode("ascii")


def verify(password: str, encoded: str) -> bool:
    """True if ``encoded`` (a ``password_hash`` result) matches ``password``."""
    raw = base64.b64decode(encoded)
    salt, digest = raw[:SALT_BYTES], raw[SALT_BYTES:]
    return hmac.compare_digest(digest, hashlib.sha256(salt + password.encode("utf-8")).digest())


def definitions(vhost: str, users: Iterable[User],
                hasher: Callable[[str], str] = password_hash) -> dict[str, list[dict[str, Any]]]:
    """``users`` and ``permissions`` for ``users`` on ``vhost``.

    The vhost itself comes from ``rabbitmq.definitions`` (it knows the
    version-dependent default queue type).
    """
    users = list(users)
    names = [u.name for u in users]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise SettingsError(f"rabbitmq users: duplicate user(s) {', '.join(dupes)}")
    if "guest" in names:
        raise SettingsError("rabbitmq users: 'guest' is the well-known default user; pick "
                            "another name")
    out_users, permissions = [], []
    for u in users:
        if u.role not in ROLES:
            raise SettingsError(f"rabbitmq users: {u.name}: unknown role {u.role!r}; use one "
                                f"of: {', '.join(ROLES)}")
        if not u.password:
            raise SettingsError(f"rabbitmq users: {u.name}: empty password")
        role = ROLES[u.role]
        out_users.append({"name": u.name, "password_hash": hasher(u.password),
                          "hashing_algorithm": HASHING_ALGORITHM, "tags": list(role.tags),
                          "limits": {}})
        permissions.append({"user": u.name, "vhost": vhost, "configure": role.configure,
                            "write": role.write, "read": role.read})
    return {"users": out_users, "permissions": permissions}


def parse_user_spec(spec: str, read: Reader = read_file) -> User:
    """``NAME:ROLE:PASSWORD_FILE`` (as given on the command line) to a ``User``."""
    parts = spec.split(":", 2)
    if len(parts) != 3 or not all(parts):
        raise SettingsError(f"rabbitmq user {spec!r}: expected NAME:ROLE:PASSWORD_FILE")
    name, role, path = parts
    try:
        password = read(path)
    except OSError as exc:
        raise SettingsError(f"rabbitmq user {name}: cannot read {path}: {exc.strerror}") from exc
    return User(name, role, password)


def merge(*parts: Mapping[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """One definitions document from fragments (lists under the same key are joined)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for part in parts:
        for key, items in part.items():
            out.setdefault(key, []).extend(items)
    return out
