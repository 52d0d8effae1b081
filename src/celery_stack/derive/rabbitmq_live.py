"""What an Ansible run must change on a live cluster, from one definitions export.

The rabbitmq role reads the cluster once (``rabbitmqctl export_definitions -``),
and this module compares that export with the objects derived from the
topology and the users of the inventory. Passwords never reach a command
line: a user whose live hash already verifies against its password keeps
that hash (same salt), any other gets a fresh salted hash, and the whole
document is imported from a 0600 file. So a second run imports nothing, and
a rotated password is one import.

Only the objects celery-stack owns are compared; everything else in the
vhost (Celery's own event and reply queues, an operator's extra policy) is
left alone, as ``import_definitions`` leaves it alone.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from .rabbitmq_users import HASHING_ALGORITHM, password_hash, verify

# Policies named with this prefix are celery-stack's; stale ones are removed.
POLICY_PREFIX = "celery-stack."


def _tags(value: Any) -> list[str]:
    """A user's tags as a sorted list (exports write a list; old ones a comma string)."""
    if isinstance(value, str):
        value = value.split(",")
    return sorted(t.strip() for t in value or [] if t and t.strip())


def _policy_key(p: Mapping[str, Any]) -> tuple:
    return (p.get("pattern"), p.get("apply-to"), int(p.get("priority", 0)),
            json.dumps(p.get("definition") or {}, sort_keys=True))


def _live_hash(live_user: Mapping[str, Any] | None, password: str) -> str | None:
    """The live user's hash when it is sha256 and verifies ``password``, else None."""
    if not live_user or live_user.get("hashing_algorithm") != HASHING_ALGORITHM:
        return None
    encoded = live_user.get("password_hash") or ""
    try:
        return encoded if verify(password, encoded) else None
    except ValueError:  # not base64: treat as a password that must be set
        return None


def plan(export: Mapping[str, Any] | None, derived: Mapping[str, list],
         users: Iterable[Mapping[str, Any]], vhost: str) -> dict[str, Any]:
    """The import document, whether it differs from ``export``, and the clean-up.

    ``derived`` is ``rabbitmq.definitions`` (vhost, exchanges, queues,
    bindings, policies); ``users`` the role's users (name, password, tags,
    configure, write, read, optional vhost). ``export`` None means the live
    state could not be read: everything counts as different.
    Returned ``drift`` lists what differs by kind and name, never a secret.
    """
    live = export or {}
    drift: list[str] = [] if export is not None else ["live definitions unreadable"]

    def names(kind: str) -> set[str]:
        return {o.get("name") for o in live.get(kind, []) if o.get("vhost") == vhost}

    if vhost not in {v.get("name") for v in live.get("vhosts", [])}:
        drift.append(f"vhost {vhost}")
    for kind in ("exchanges", "queues"):
        have = names(kind)
        drift += [f"{kind[:-1]} {o['name']}" for o in derived.get(kind, [])
                  if o["name"] not in have]
    bindings = {(b.get("source"), b.get("destination"), b.get("destination_type"),
                 b.get("routing_key")) for b in live.get("bindings", []) if b.get("vhost") == vhost}
    drift += [f"binding {b['source']}->{b['destination']}" for b in derived.get("bindings", [])
              if (b["source"], b["destination"], b["destination_type"], b["routing_key"])
              not in bindings]
    live_policies = {p.get("name"): p for p in live.get("policies", []) if p.get("vhost") == vhost}
    drift += [f"policy {p['name']}" for p in derived.get("policies", [])
              if p["name"] not in live_policies
              or _policy_key(live_policies[p["name"]]) != _policy_key(p)]
    stale = sorted(n for n in live_policies if n.startswith(POLICY_PREFIX)
                   and n not in {p["name"] for p in derived.get("policies", [])})

    live_users = {u.get("name"): u for u in live.get("users", [])}
    live_perms = {(p.get("user"), p.get("vhost")): p for p in live.get("permissions", [])}
    out_users, out_perms = [], []
    for u in users:
        mine = live_users.get(u["name"])
        kept = _live_hash(mine, u["password"])
        if kept is None:
            drift.append(f"user {u['name']} (password)")
        elif _tags(mine.get("tags")) != _tags(u.get("tags")):
            drift.append(f"user {u['name']} (tags)")
        out_users.append({"name": u["name"], "password_hash": kept or password_hash(u["password"]),
                          "hashing_algorithm": HASHING_ALGORITHM, "tags": _tags(u.get("tags")),
                          "limits": {}})
        perm = {"user": u["name"], "vhost": u.get("vhost") or vhost,
                "configure": u.get("configure") or "^$", "write": u.get("write") or "^$",
                "read": u.get("read") or "^$"}
        have = live_perms.get((perm["user"], perm["vhost"])) or {}
        if any(have.get(k) != perm[k] for k in ("configure", "write", "read")):
            drift.append(f"permissions of {u['name']} on {perm['vhost']}")
        out_perms.append(perm)

    document = {**{k: list(v) for k, v in derived.items()}, "users": out_users,
                "permissions": out_perms}
    return {"drift": drift, "definitions": document, "stale_policies": stale,
            "guest": "guest" in live_users}
