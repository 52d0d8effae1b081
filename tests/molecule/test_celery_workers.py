"""Worker host: every fleet under Supervisor with its process count, beat, secrets, smoke."""

import re

import pytest
from fleet_diag import print_failing_fleets
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
    if result.rc != 0:
        print_failing_fleets(host, result.stderr)
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


LOG_DIR = "/var/log/celery-stack"


@pytest.mark.phase(0)  # reopens Supervisor's logs before the watchdog check records pids
def test_a_log_symlink_planted_by_the_worker_user_makes_root_write_nothing(host):
    """Supervisor (root) writes the program logs: task code running as celery must not
    be able to point one at a file of its choice and have root create or write it."""
    logs = sorted(x for x in host.file(LOG_DIR).listdir() if x.endswith(".log"))
    assert logs, f"no program log in {LOG_DIR}"
    log = f"{LOG_DIR}/{logs[0]}"
    target = "/etc/celery-stack-log-attack-target"
    host.run(f"rm -f {target}")
    # The attack: move the log aside and put a symlink to the target in its place.
    attack = host.run(f"runuser -u celery -- sh -c 'mv {log} {log}.moved && ln -s {target} {log}'")
    try:
        # What logrotate's postrotate does: SIGUSR2 makes supervisord reopen every log.
        pid = host.check_output("supervisorctl pid")
        host.run_expect([0], f"kill -USR2 {int(pid)}")
        host.run("sleep 2")
        assert not host.file(target).exists, (
            f"root followed a symlink the celery user planted in {LOG_DIR} "
            f"(attack exit {attack.rc}: {attack.stderr.strip()})")
        assert attack.rc != 0, f"the celery user could replace {log}"
    finally:
        host.run(f"test -L {log} && rm -f {log}; test -e {log}.moved && mv {log}.moved {log}; "
                 f"rm -f {target}; kill -USR2 $(supervisorctl pid)")
    d = host.file(LOG_DIR)
    assert (d.user, d.mode & 0o022) == ("root", 0), (d.user, oct(d.mode))


def systemd_seconds(span: str) -> float:
    """A systemd time span as `systemctl show` prints it ("4min 35s", "90s", "1h 2min")."""
    units = {"h": 3600, "min": 60, "s": 1, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|min|ms|us|s)\b", span)
    assert parts, f"not a systemd time span: {span!r}"
    return sum(float(n) * units[u] for n, u in parts)


def test_systemd_waits_for_every_programs_warm_shutdown(host):
    """supervisord stops one group after the other, each up to its stopwaitsecs:
    a stop of supervisor.service must not be cut short by systemd's timeout."""
    conf = host.file("/etc/supervisor/conf.d/celery-stack.conf").content_string
    waits = [int(x) for x in re.findall(r"^stopwaitsecs=(\d+)$", conf, flags=re.M)]
    assert waits, "no stopwaitsecs in the Supervisor include"
    shown = host.check_output("systemctl show supervisor.service -P TimeoutStopUSec")
    assert systemd_seconds(shown) >= sum(waits), (shown, waits)
