"""HAProxy: config valid, every broker UP behind it, stats behind auth (401 without, 200 with)."""

from haproxy_stat import servers
from infra import configured, first, group, secret

testinfra_hosts = [first("haproxy")]


def _stats_code(host, extra=""):
    port = configured(host.backend.host, "haproxy", "haproxy_stats_port")
    return host.run(f"curl -s -o /dev/null -w '%{{http_code}}' {extra} "
                    f"http://127.0.0.1:{port}/").stdout


def test_config_is_valid(host):
    assert host.run("haproxy -c -q -f /etc/haproxy/haproxy.cfg").rc == 0


def test_amqp_frontend_listens(host):
    assert host.service("haproxy").is_running
    assert host.socket("tcp://0.0.0.0:5672").is_listening


def test_every_broker_is_up_behind_haproxy(host):
    # HAProxy's own health-check verdict, from its admin socket.
    assert servers(host) == {b: "UP" for b in group("rabbitmq")}


def test_stats_refuse_anonymous(host):
    assert _stats_code(host) == "401"


def test_stats_accept_their_credentials(host):
    user = configured(host.backend.host, "haproxy", "haproxy_stats_user")
    # curl reads the password from a netrc file, not from its own argv.
    host.run(f"umask 077; printf 'machine 127.0.0.1 login %s password %s\\n' '{user}' "
             f"'{secret('haproxy_stats_password')}' > /root/.netrc-molecule")
    try:
        assert _stats_code(host, "--netrc-file /root/.netrc-molecule") == "200"
    finally:
        host.run("rm -f /root/.netrc-molecule")
