"""The Ansible path's one-export comparison: idempotent hashes, drift by name, clean-up."""

from __future__ import annotations

import copy

import pytest

from celery_stack.derive import rabbitmq_live
from celery_stack.derive.rabbitmq_users import password_hash, verify

VHOST = "celery"
DERIVED = {
    "vhosts": [{"name": VHOST}],
    "exchanges": [{"vhost": VHOST, "name": "celery", "type": "direct"}],
    "queues": [{"vhost": VHOST, "name": "bulk", "arguments": {"x-queue-type": "quorum"}}],
    "bindings": [{"vhost": VHOST, "source": "celery", "destination": "bulk",
                  "destination_type": "queue", "routing_key": "bulk", "arguments": {}}],
    "policies": [{"vhost": VHOST, "name": "celery-stack.bulk", "pattern": "^bulk$",
                  "apply-to": "queues", "priority": 10, "definition": {"delivery-limit": 5}}],
}
APP_PW = "app-password-0123456789"
USERS = [{"name": "app", "password": APP_PW, "tags": [], "configure": ".*", "write": ".*",
          "read": ".*"},
         {"name": "mon", "password": "mon-password-0123456789", "tags": ["monitoring"]}]
SALT = b"\x01\x02\x03\x04"
ROTATED = "rotated-" + APP_PW  # a test value, not a credential


def live_export() -> dict:
    """An export as rabbitmqctl writes it for a cluster that is already in shape."""
    return {
        "rabbit_version": "4.0.5",
        "vhosts": [{"name": "/"}, {"name": VHOST}],
        "users": [
            {"name": "app", "password_hash": password_hash(APP_PW, SALT),
             "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": [], "limits": {}},
            # Old exports write tags as one comma-separated string.
            {"name": "mon", "password_hash": password_hash("mon-password-0123456789", SALT),
             "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": "monitoring"},
        ],
        "permissions": [
            {"user": "app", "vhost": VHOST, "configure": ".*", "write": ".*", "read": ".*"},
            {"user": "mon", "vhost": VHOST, "configure": "^$", "write": "^$", "read": "^$"},
        ],
        "exchanges": [{"vhost": VHOST, "name": "celery", "type": "direct"},
                      {"vhost": VHOST, "name": "celeryev", "type": "topic"}],
        "queues": [{"vhost": VHOST, "name": "bulk"}, {"vhost": VHOST, "name": "celery@w.pidbox"}],
        "bindings": [{"vhost": VHOST, "source": "celery", "destination": "bulk",
                      "destination_type": "queue", "routing_key": "bulk", "arguments": {}}],
        "policies": [{"vhost": VHOST, "name": "celery-stack.bulk", "pattern": "^bulk$",
                      "apply-to": "queues", "priority": 10, "definition": {"delivery-limit": 5}},
                     {"vhost": VHOST, "name": "operator-ttl", "pattern": "^x$",
                      "apply-to": "queues", "priority": 0, "definition": {"message-ttl": 1}}],
    }


def test_a_cluster_in_shape_needs_nothing_and_keeps_its_hashes():
    out = rabbitmq_live.plan(live_export(), DERIVED, USERS, VHOST)
    assert out["drift"] == []
    assert out["stale_policies"] == [] and out["guest"] is False
    app = next(u for u in out["definitions"]["users"] if u["name"] == "app")
    # The live hash (same salt) is kept, so a later import would not change it.
    assert app["password_hash"] == password_hash(APP_PW, SALT)


def test_a_rotated_password_is_a_drift_with_a_new_salted_hash():
    users = copy.deepcopy(USERS)
    users[0]["password"] = ROTATED
    out = rabbitmq_live.plan(live_export(), DERIVED, users, VHOST)
    assert out["drift"] == ["user app (password)"]
    app = next(u for u in out["definitions"]["users"] if u["name"] == "app")
    assert verify(ROTATED, app["password_hash"])
    assert not verify(APP_PW, app["password_hash"])


def test_no_secret_in_the_drift_report():
    out = rabbitmq_live.plan(None, DERIVED, USERS, VHOST)
    text = " ".join(out["drift"])
    assert "live definitions unreadable" in text and "user app (password)" in text
    for u in USERS:
        assert u["password"] not in text


@pytest.mark.parametrize(("change", "expected"), [
    (lambda e: e["queues"].pop(0), "queue bulk"),
    (lambda e: e["exchanges"].pop(0), "exchange celery"),
    (lambda e: e["bindings"].clear(), "binding celery->bulk"),
    (lambda e: e["vhosts"].pop(1), f"vhost {VHOST}"),
    (lambda e: e["policies"][0]["definition"].update({"delivery-limit": 6}),
     "policy celery-stack.bulk"),
    (lambda e: e["policies"][0].update(priority=0), "policy celery-stack.bulk"),
    (lambda e: e["users"][1].update(tags=["administrator"]), "user mon (tags)"),
    (lambda e: e["users"][0].update(hashing_algorithm="rabbit_password_hashing_md5"),
     "user app (password)"),
    (lambda e: e["permissions"][0].update(read="^$"), f"permissions of app on {VHOST}"),
    (lambda e: e["permissions"].pop(1), f"permissions of mon on {VHOST}"),
])
def test_each_kind_of_difference_is_named(change, expected):
    export = live_export()
    change(export)
    assert rabbitmq_live.plan(export, DERIVED, USERS, VHOST)["drift"] == [expected]


def test_an_object_in_another_vhost_does_not_count():
    export = live_export()
    for q in export["queues"]:
        q["vhost"] = "other"
    assert rabbitmq_live.plan(export, DERIVED, USERS, VHOST)["drift"] == ["queue bulk"]


def test_stale_celery_stack_policies_are_listed_an_operators_are_not():
    export = live_export()
    export["policies"].append({"vhost": VHOST, "name": "celery-stack.gone", "pattern": "^gone$",
                               "apply-to": "queues", "priority": 10, "definition": {}})
    out = rabbitmq_live.plan(export, DERIVED, USERS, VHOST)
    assert out["stale_policies"] == ["celery-stack.gone"] and out["drift"] == []


def test_guest_is_reported_for_removal():
    export = live_export()
    export["users"].append({"name": "guest", "password_hash": "x", "tags": ["administrator"]})
    assert rabbitmq_live.plan(export, DERIVED, USERS, VHOST)["guest"] is True


def test_the_document_holds_the_derived_objects_and_every_users_permissions():
    doc = rabbitmq_live.plan(None, DERIVED, USERS, VHOST)["definitions"]
    assert doc["queues"] == DERIVED["queues"] and doc["policies"] == DERIVED["policies"]
    assert [p["user"] for p in doc["permissions"]] == ["app", "mon"]
    # A user without regexes gets no permission on anything.
    assert doc["permissions"][1] == {"user": "mon", "vhost": VHOST, "configure": "^$",
                                     "write": "^$", "read": "^$"}
    assert all("password" not in u for u in doc["users"])
