"""Redis: authentication required, dangerous commands refused, AOF on, container drop-in."""

import os

import testinfra.utils.ansible_runner

testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(
    os.environ["MOLECULE_INVENTORY_FILE"]).get_hosts("redis")


def test_redis_runs_and_listens(host):
    assert host.service("redis-server").is_running
    assert host.socket("tcp://0.0.0.0:6379").is_listening or \
        host.socket("tcp://127.0.0.1:6379").is_listening


def test_redis_refuses_commands_without_auth(host):
    out = host.run("redis-cli PING")
    assert "NOAUTH" in out.stdout + out.stderr


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
    assert "LimitNOFILE=65536" in drop_ins
