"""Worker host: every fleet under Supervisor with its process count, beat, secrets, smoke."""

import pytest
from infra import SECRETS, first, host_of, secret

from celery_stack.topology import load

testinfra_hosts = [first("celery_workers")]
TOPOLOGY = load(None)


def supervisor_status(host) -> dict[str, str]:
    """Supervisor's process name ("group:name" or "name") -> the rest of its status line."""
    lines = host.run("supervisorctl status").stdout.splitlines()
    return {line.split(None, 1)[0]: line.split(None, 1)[1] for line in lines if line.strip()}


@pytest.mark.phase(0)  # before the watchdog check stops a process
def test_smoke_every_queue_served_by_its_own_fleet(host):
    result = host.run("celery-stack smoke --timeout 90")
    assert result.rc == 0, result.stdout + result.stderr
    for queue in TOPOLOGY.queues:
        row = next(line for line in result.stdout.splitlines() if line.startswith(queue.name))
        assert row.rstrip().endswith("ok"), row


def test_supervisor_runs_each_fleet_with_its_process_count(host):
    status = supervisor_status(host)
    for fleet in TOPOLOGY.fleets:
        running = [name for name, rest in status.items()
                   if name.startswith(f"{fleet.program}:") and rest.startswith("RUNNING")]
        assert len(running) == fleet.processes, (fleet.name, status)


def test_beat_runs_on_the_beat_host(host):
    beat = host_of(first("celery_beat"))
    assert supervisor_status(beat)["celery-beat"].startswith("RUNNING")


def test_worker_secrets_are_private(host):
    for name in ("broker_password", "redis_password"):
        f = host.file(f"/etc/celery-stack/secrets/{name}")
        assert f.exists and not f.mode & 0o007, name


def test_watchdog_cron_runs_every_minute(host):
    cron = host.file("/etc/cron.d/celery-stack-watchdog").content_string
    entry = next(line for line in cron.splitlines() if "watchdog" in line and line[0] in "*0")
    assert entry.split()[:5] == ["*"] * 5


def test_env_file_has_no_secret_values(host):
    env = host.file("/etc/celery-stack/env").content_string
    assert "CELERY_STACK_BROKER_PASSWORD_FILE=" in env  # the settings are there, by path
    for name in ("rabbitmq_app_password", "redis_password"):
        value = secret(name)  # fails if the secret is missing: never a vacuous pass
        assert value not in env, f"{name} from {SECRETS} is in /etc/celery-stack/env"
