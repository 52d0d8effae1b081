"""check-env: the compose variables and secret files, every problem named with its fix."""

import os

import pytest

from celery_stack import envcheck, secrets


def test_defaults_pass():
    assert envcheck.check_env({}) == []


def test_every_problem_is_collected_and_named():
    env = {"AMQP_PORT": "70000", "FLOWER_PORT": "x", "CELERY_STACK_BIND": "localhost",
           "RABBITMQ_MEMORY_WATERMARK": "2GiB", "REDIS_MAXMEMORY": "0"}
    errors = envcheck.check_env(env)
    assert [e.split(":", 1)[0] for e in errors] == [
        "AMQP_PORT", "FLOWER_PORT", "CELERY_STACK_BIND", "RABBITMQ_MEMORY_WATERMARK",
        "REDIS_MAXMEMORY"]


@pytest.mark.parametrize(("parse", "text", "value"), [
    (envcheck.docker_bytes, "1200m", 1200 * 1024**2),
    (envcheck.docker_bytes, "1g", 1024**3),
    (envcheck.docker_bytes, "1 gigabyte", None),
    (envcheck.rabbit_bytes, "700MiB", 700 * 1024**2),
    (envcheck.rabbit_bytes, "1GB", 10**9),
    (envcheck.rabbit_bytes, "0.4", None),
    (envcheck.redis_bytes, "400mb", 400 * 1024**2),
    (envcheck.redis_bytes, "1g", 10**9),
])
def test_sizes(parse, text, value):
    assert parse(text) == value


def test_generated_secrets_pass_and_weak_ones_are_named(tmp_path):
    secrets.ensure(tmp_path)
    assert envcheck.check_secrets(tmp_path) == []
    (tmp_path / "redis_password").write_text("guest")
    os.chmod(tmp_path / "flower_password", 0o644)
    errors = envcheck.check_secrets(tmp_path)
    assert [e.split(":", 1)[0] for e in errors] == ["redis_password", "flower_password"]
    assert "guest" not in "".join(errors).replace(str(tmp_path), "")
