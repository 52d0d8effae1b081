"""Flower: 401 without credentials, 200 with them; /healthcheck open."""

import os

import testinfra.utils.ansible_runner

testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(
    os.environ["MOLECULE_INVENTORY_FILE"]).get_hosts("flower")
SECRETS = os.path.join(os.path.dirname(os.environ["MOLECULE_INVENTORY_FILE"]), ".secrets")


def _code(host, extra=""):
    return host.run(f"curl -s -o /dev/null -w '%{{http_code}}' {extra} http://127.0.0.1:5555/")


def test_flower_refuses_anonymous(host):
    assert _code(host).stdout == "401"


def test_flower_accepts_its_credentials(host):
    with open(os.path.join(SECRETS, "flower_password"), encoding="utf-8") as fh:
        password = fh.read().strip()
    # The password goes through a netrc file, never on a command line.
    host.run(f"umask 077; printf 'machine 127.0.0.1 login admin password %s\\n' '{password}' "
             "> /root/.netrc-molecule")
    try:
        assert _code(host, "--netrc-file /root/.netrc-molecule").stdout == "200"
    finally:
        host.run("rm -f /root/.netrc-molecule")
