"""Celery settings: checked through what Celery and kombu make of them."""

from __future__ import annotations

import importlib
import json
import sys
from urllib.parse import quote, unquote, urlsplit

import pytest
from celery import Celery
from celery.schedules import crontab

from celery_stack.derive import celery_settings, connections
from celery_stack.derive.connections import SettingsError
from celery_stack.topology import load

PASSWORD = "p@ss/w:rd%x"  # noqa: S105 -- a test value with every URL-special character
ENV = {
    "CELERY_STACK_BROKER_HOSTS": "haproxy:5672, rabbit-1:5672,rabbit-2:5672",
    "CELERY_STACK_BROKER_USER": "app",
    "CELERY_STACK_BROKER_PASSWORD": PASSWORD,
}


@pytest.fixture(scope="module")
def topology():
    return load(None)


@pytest.fixture(scope="module")
def settings(topology):
    return celery_settings.build(topology, ENV)


def celery_app(settings) -> Celery:
    app = Celery("test", set_as_current=False)
    app.config_from_object(settings)
    return app


def route(app: Celery, task: str) -> str:
    return app.amqp.router.route({}, task)["queue"].name


# --- queues, types, confirms ---------------------------------------------------

def test_quorum_queues_get_publisher_confirms_and_quorum_type(topology, settings):
    assert all(q.type == "quorum" for q in topology.queues)
    assert settings["broker_transport_options"]["confirm_publish"] is True
    declared = {q.name: q.queue_arguments for q in settings["task_queues"]}
    assert set(declared) == {q.name for q in topology.queues}
    assert all(args["x-queue-type"] == "quorum" for args in declared.values())
    assert settings["task_default_queue_type"] == "quorum"


def test_classic_only_topology_has_no_confirms(base, build):
    for q in base["queues"]:
        q["type"] = "classic"
    settings = celery_settings.build(build(base), ENV)
    assert settings["broker_transport_options"]["confirm_publish"] is False
    assert {q.queue_arguments["x-queue-type"] for q in settings["task_queues"]} == {"classic"}


def test_each_queue_bound_by_its_own_name(settings):
    for q in settings["task_queues"]:
        assert q.routing_key == q.name
        assert q.durable
        assert q.exchange.name == settings["task_default_exchange"]


# --- routing, through Celery's own router -------------------------------------------

def test_celery_router_sends_demo_tasks_to_their_queues(default_raw, settings):
    app = celery_app(settings)
    assert route(app, "celery_stack.demo.tasks.thumbnail_small_file") == "priority"
    assert route(app, "celery_stack.demo.tasks.convert_large_file") == "bulk"
    # Unrouted tasks fall through to the default queue.
    assert route(app, "celery_stack.demo.tasks.report") == default_raw["app"]["default_queue"]


def test_every_route_glob_resolves_to_its_queue(default_raw, settings):
    app = celery_app(settings)
    for r in default_raw["routes"]:
        example = r["task"].replace("*", "anything")
        assert route(app, example) == r["queue"], r


def test_routes_only_name_declared_queues(settings):
    declared = {q.name for q in settings["task_queues"]}
    assert {v["queue"] for v in settings["task_routes"].values()} <= declared
    assert settings["task_create_missing_queues"] is False


def test_real_demo_tasks_route_as_registered():
    # The demo module's task names are what producers publish.
    from celery_stack.demo import tasks

    app = celery_app(celery_settings.build(load(None), ENV))
    assert route(app, tasks.thumbnail_small_file.name) == "priority"
    assert route(app, tasks.convert_large_file.name) == "bulk"


# --- per-fleet and global settings ------------------------------------------------

FLEET_KEYS = ("task_acks_late", "task_reject_on_worker_lost", "worker_prefetch_multiplier",
              "task_time_limit", "task_soft_time_limit")


def test_fleet_settings_absent_without_a_fleet(settings):
    # Producers and beat must not pick one fleet's behaviour.
    assert not set(FLEET_KEYS) & set(settings)


@pytest.mark.parametrize("index", [0, 1, 2])
def test_fleet_settings_follow_the_fleet(topology, default_raw, index):
    raw = default_raw["fleets"][index]
    s = celery_settings.build(topology, ENV, raw["name"])
    assert s["task_acks_late"] is raw["acks_late"]
    assert s["task_reject_on_worker_lost"] is raw["acks_late"]
    assert s["worker_prefetch_multiplier"] == raw["prefetch_multiplier"]
    assert s["task_time_limit"] == raw["time_limit"]
    assert s["task_soft_time_limit"] == raw["soft_time_limit"]
    assert s["worker_max_memory_per_child"] == raw.get("max_memory_per_child")


def test_acks_late_off_also_turns_off_reject_on_worker_lost(base, build):
    base["fleets"][1]["acks_late"] = False
    s = celery_settings.build(build(base), ENV, "bulk")
    assert s["task_acks_late"] is False and s["task_reject_on_worker_lost"] is False


def test_results_ignored_by_default(base, build):
    del base["results"]
    assert celery_settings.build(build(base), ENV)["task_ignore_result"] is True
    base["results"] = {"ignore_by_default": False}
    assert celery_settings.build(build(base), ENV)["task_ignore_result"] is False


def test_event_queue_ttl_and_expiry_come_from_monitoring(base, build):
    base["monitoring"].update(event_queue_ttl=7, event_queue_expires=99)
    s = celery_settings.build(build(base), ENV)
    assert (s["event_queue_ttl"], s["event_queue_expires"]) == (7, 99)


def test_json_only(settings):
    assert settings["accept_content"] == ["json"]
    assert settings["task_serializer"] == "json"


def test_beat_schedule(base, build):
    base["beat"]["schedule"].append(
        {"name": "nightly", "task": "pkg.tasks.nightly", "cron": "30 2 * * 1-5", "queue": "bulk"})
    schedule = celery_settings.build(build(base), ENV)["beat_schedule"]
    assert schedule["report"]["schedule"] == 60
    nightly = schedule["nightly"]
    assert isinstance(nightly["schedule"], crontab)
    assert nightly["schedule"].hour == {2} and nightly["schedule"].minute == {30}
    assert nightly["schedule"].day_of_week == {1, 2, 3, 4, 5}
    assert nightly["options"] == {"queue": "bulk"}
    base["beat"]["enabled"] = False
    assert celery_settings.build(build(base), ENV)["beat_schedule"] == {}


# --- broker and backend URLs --------------------------------------------------------

def test_broker_urls_one_per_host_in_order_with_quoted_password(settings):
    urls = settings["broker_url"]
    hosts = [urlsplit(u).hostname for u in urls]
    assert hosts == ["haproxy", "rabbit-1", "rabbit-2"]
    for url in urls:
        parts = urlsplit(url)
        assert parts.port == 5672
        assert unquote(parts.username) == "app"
        assert unquote(parts.password) == PASSWORD
        assert unquote(parts.path[1:]) == "/"  # default vhost


def test_broker_url_accepted_by_kombu(settings):
    from kombu import Connection

    conn = Connection(settings["broker_url"][0])
    assert conn.hostname == "haproxy" and conn.password == PASSWORD and conn.virtual_host == "/"


def test_vhost_is_quoted():
    url = connections.broker_urls({**ENV, "CELERY_STACK_BROKER_VHOST": "media/prod"})[0]
    assert unquote(urlsplit(url).path[1:]) == "media/prod"


def test_password_file_wins_over_variable(tmp_path):
    secret = tmp_path / "broker_password"
    secret.write_text("from-file@x\n", encoding="utf-8")
    env = {**ENV, "CELERY_STACK_BROKER_PASSWORD_FILE": str(secret)}
    url = connections.broker_urls(env)[0]
    assert unquote(urlsplit(url).password) == "from-file@x"


def test_unreadable_password_file_names_the_variable(tmp_path):
    env = {**ENV, "CELERY_STACK_BROKER_PASSWORD_FILE": str(tmp_path / "missing")}
    with pytest.raises(SettingsError, match="CELERY_STACK_BROKER_PASSWORD_FILE"):
        connections.broker_urls(env)


def test_missing_broker_password_names_the_variable(topology):
    env = {k: v for k, v in ENV.items() if k != "CELERY_STACK_BROKER_PASSWORD"}
    with pytest.raises(SettingsError, match="CELERY_STACK_BROKER_PASSWORD"):
        celery_settings.build(topology, env)


def test_missing_broker_hosts_names_the_variable(topology):
    with pytest.raises(SettingsError, match="CELERY_STACK_BROKER_HOSTS"):
        celery_settings.build(topology, {"CELERY_STACK_BROKER_USER": "app"})


def test_full_broker_url_list_wins(topology):
    s = celery_settings.build(topology, {"CELERY_STACK_BROKER_URL": "amqp://a:b@x//; amqp://a:b@y//"})
    assert [urlsplit(u).hostname for u in s["broker_url"]] == ["x", "y"]


def test_redis_backend_needs_a_password(topology):
    with pytest.raises(SettingsError, match="CELERY_STACK_REDIS_PASSWORD"):
        celery_settings.build(topology, {**ENV, "CELERY_STACK_REDIS_HOST": "redis"})


def test_redis_backend_url(topology):
    env = {**ENV, "CELERY_STACK_REDIS_HOST": "redis", "CELERY_STACK_REDIS_PASSWORD": "r@d:s",
           "CELERY_STACK_REDIS_DB": "2"}
    url = urlsplit(celery_settings.build(topology, env)["result_backend"])
    assert (url.scheme, url.hostname, url.port, url.path) == ("redis", "redis", 6379, "/2")
    assert unquote(url.password) == "r@d:s"


def test_redacted_never_contains_a_password(topology):
    env = {**ENV, "CELERY_STACK_REDIS_HOST": "redis", "CELERY_STACK_REDIS_PASSWORD": "redis-pw!"}
    settings = celery_settings.build(topology, env, "bulk")
    text = json.dumps(celery_settings.redacted(settings), default=str)
    for secret in (PASSWORD, "redis-pw!"):
        assert secret not in text
        assert secret.replace("@", "%40") not in text
        assert quote(secret, safe="") not in text
    # ...but it still says where the broker is.
    assert "haproxy" in text and "rabbit-2" in text


# --- the config module an application loads -------------------------------------------

def test_celeryconfig_module_configures_an_app(monkeypatch):
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("CELERY_STACK_FLEET", "bulk")
    monkeypatch.delenv("CELERY_STACK_TOPOLOGY", raising=False)
    monkeypatch.delitem(sys.modules, "celery_stack.celeryconfig", raising=False)
    module = importlib.import_module("celery_stack.celeryconfig")
    try:
        app = Celery("test", set_as_current=False)
        app.config_from_object("celery_stack.celeryconfig")
        assert app.conf.task_default_queue == "default"
        assert app.conf.worker_prefetch_multiplier == 1  # the bulk fleet's
        assert route(app, "celery_stack.demo.tasks.convert_large_file") == "bulk"
        assert module.task_acks_late is True
    finally:
        sys.modules.pop("celery_stack.celeryconfig", None)
