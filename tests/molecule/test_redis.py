"""Redis: authentication required, dangerous commands refused, AOF on, container drop-in."""

from infra import configured, first, host_of, main_pid, open_files_limits

testinfra_hosts = [first("redis")]

# Run on the worker host with the application's own secret file: the app
# user's connection works (PING), and FLUSHALL is refused by the ACL.
ACL_PROBE = """
import os, redis
env = os.environ
password = open(env["CELERY_STACK_REDIS_PASSWORD_FILE"]).read().strip()
r = redis.Redis(host=env["CELERY_STACK_REDIS_HOST"], port=int(env["CELERY_STACK_REDIS_PORT"]),
                username=env["CELERY_STACK_REDIS_USER"], password=password, socket_timeout=10)
print("PING", r.ping())
try:
    r.flushall()
except redis.exceptions.NoPermissionError as exc:
    print("FLUSHALL refused:", exc)
else:
    print("FLUSHALL ACCEPTED")
"""


def test_redis_runs_and_listens(host):
    assert host.service("redis-server").is_running
    assert host.socket("tcp://0.0.0.0:6379").is_listening or \
        host.socket("tcp://127.0.0.1:6379").is_listening


def test_redis_refuses_commands_without_auth(host):
    out = host.run("redis-cli PING")
    assert "NOAUTH" in out.stdout + out.stderr


def test_application_user_cannot_flush(host):
    # The application's own settings and secret file, on the worker host.
    worker = host_of(first("celery_workers"))
    result = worker.run("set -a; . /etc/celery-stack/env; set +a; "
                        f"/opt/celery-stack/venv/bin/python -c '{ACL_PROBE}'")
    out = result.stdout + result.stderr
    assert result.rc == 0, out
    assert "PING True" in out, out
    assert "FLUSHALL refused" in out, out


def test_overcommit_memory_set_for_redis(host):
    content = host.file("/etc/sysctl.d/60-celery-stack.conf").content_string
    assert "vm.overcommit_memory=1" in content.replace(" ", "")


def test_aof_everysec_and_config_private(host):
    conf = host.file("/etc/redis/redis.conf")
    assert conf.mode == 0o640 and conf.user == "redis"
    text = conf.content_string
    assert "appendonly yes" in text and "appendfsync everysec" in text
    assert "user default off" in text


def test_private_users_drop_in_only_in_container(host):
    drop_ins = host.run("systemctl cat redis-server").stdout
    assert "PrivateUsers=false" in drop_ins


def test_open_files_limit_is_live(host):
    want = int(configured(host.backend.host, "redis", "redis_nofile_limit"))
    unit = int(host.run("systemctl show -p LimitNOFILE --value redis-server").stdout)
    assert unit == want
    soft, _hard = open_files_limits(host, main_pid(host, "redis-server"))
    # systemd cannot grant more than its own hard limit (20000 on the test hosts).
    _, ceiling = open_files_limits(host, 1)
    assert soft == min(want, ceiling), f"unit {unit}, live {soft}, systemd's hard limit {ceiling}"
