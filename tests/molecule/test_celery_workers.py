"""Worker host: every fleet under Supervisor with its process count; smoke through HAProxy."""

import os

import pytest
import testinfra.utils.ansible_runner

from celery_stack.topology import load

testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(
    os.environ["MOLECULE_INVENTORY_FILE"]).get_hosts("celery_workers")
TOPOLOGY = load(None)


@pytest.mark.parametrize("fleet", TOPOLOGY.fleets, ids=lambda f: f.name)
def test_supervisor_runs_each_fleet_with_its_process_count(host, fleet):
    status = host.run("supervisorctl status").stdout.splitlines()
    running = [line for line in status
               if line.startswith(f"{fleet.program}:") and " RUNNING " in f" {line} "]
    assert len(running) == fleet.processes, status


def test_beat_runs_on_the_beat_host(host):
    assert "RUNNING" in host.run("supervisorctl status celery-beat").stdout


def test_worker_secrets_are_private(host):
    for name in ("broker_password", "redis_password"):
        f = host.file(f"/etc/celery-stack/secrets/{name}")
        assert f.exists and not f.mode & 0o007, name


def test_smoke_every_queue_served_by_its_own_fleet_through_haproxy(host):
    result = host.run("celery-stack smoke --timeout 90")
    assert result.rc == 0, result.stdout + result.stderr
    for queue in TOPOLOGY.queues:
        row = next(line for line in result.stdout.splitlines() if line.startswith(queue.name))
        assert row.rstrip().endswith("ok"), row


def test_watchdog_cron_runs_every_minute(host):
    cron = host.file("/etc/cron.d/celery-stack-watchdog").content_string
    entry = next(line for line in cron.splitlines() if "watchdog" in line and line[0] in "*0")
    assert entry.split()[:5] == ["*"] * 5


def test_env_file_has_no_secret_values(host):
    env = host.file("/etc/celery-stack/env").content_string
    secrets_dir = os.path.join(os.path.dirname(os.environ["MOLECULE_INVENTORY_FILE"]), ".secrets")
    for name in ("rabbitmq_app_password", "redis_password"):
        path = os.path.join(secrets_dir, name)
        if os.path.exists(path):
            with open(path, encoding="utf-8") as fh:
                assert fh.read().strip() not in env
