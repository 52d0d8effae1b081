"""RabbitMQ users in definitions: hashes RabbitMQ accepts, least privilege, no guest."""

import base64
import hashlib

import pytest

from celery_stack.derive import rabbitmq_users as ru
from celery_stack.derive.connections import SettingsError


def test_hash_is_salted_sha256_in_rabbitmq_format():
    salt = b"\x01\x02\x03\x04"
    encoded = ru.password_hash("s3cret", salt)
    raw = base64.b64decode(encoded)
    assert raw[:4] == salt
    assert raw[4:] == hashlib.sha256(salt + b"s3cret").digest()
    assert ru.verify("s3cret", encoded)
    assert not ru.verify("other", encoded)


def test_two_hashes_of_one_password_differ_but_both_verify():
    a, b = ru.password_hash("pw"), ru.password_hash("pw")
    assert a != b
    assert ru.verify("pw", a) and ru.verify("pw", b)


def test_roles_give_least_privilege():
    users = [ru.User("app", "application", "a"), ru.User("mon", "monitoring", "m"),
             ru.User("adm", "admin", "x")]
    doc = ru.definitions("celery", users)
    perms = {p["user"]: p for p in doc["permissions"]}
    tags = {u["name"]: u["tags"] for u in doc["users"]}
    assert tags["app"] == []  # no management access for the application
    assert tags["mon"] == ["monitoring"]
    assert "administrator" in tags["adm"]
    # The monitoring user can read the API but touch no message or queue.
    assert perms["mon"]["read"] == perms["mon"]["write"] == perms["mon"]["configure"] == "^$"
    assert all(p["vhost"] == "celery" for p in perms.values())


@pytest.mark.parametrize("users, field", [
    ([ru.User("guest", "admin", "pw")], "guest"),
    ([ru.User("u", "admin", "pw"), ru.User("u", "monitoring", "pw")], "duplicate"),
    ([ru.User("u", "root", "pw")], "unknown role"),
    ([ru.User("u", "admin", "")], "empty password"),
])
def test_bad_users_are_refused(users, field):
    with pytest.raises(SettingsError) as info:
        ru.definitions("celery", users)
    assert field in str(info.value)


def test_user_repr_hides_the_password():
    assert "topsecret" not in repr(ru.User("u", "admin", "topsecret"))
