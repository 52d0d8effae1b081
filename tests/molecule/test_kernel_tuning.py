"""kernel_tuning on every host: the files carry the production values."""

import os

import pytest
import testinfra.utils.ansible_runner

testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(
    os.environ["MOLECULE_INVENTORY_FILE"]).get_hosts("all")


@pytest.mark.parametrize("key, minimum", [
    ("net.core.somaxconn", 4096),
    ("net.ipv4.tcp_max_syn_backlog", 4096),
    ("net.netfilter.nf_conntrack_max", 131072),
])
def test_sysctl_file_sets_at_least(host, key, minimum):
    content = host.file("/etc/sysctl.d/60-celery-stack.conf").content_string
    values = dict(line.split("=", 1) for line in content.splitlines()
                  if "=" in line and not line.startswith("#"))
    values = {k.strip(): v.strip() for k, v in values.items()}
    assert int(values[key]) >= minimum


def test_tcp_fin_timeout_is_shortened(host):
    content = host.file("/etc/sysctl.d/60-celery-stack.conf").content_string
    assert "net.ipv4.tcp_fin_timeout=30" in content.replace(" ", "")


def test_temp_cleanup_cron_is_installed_and_runs_the_script(host):
    cron = host.file("/etc/cron.d/celery-stack-tmp-clean")
    assert cron.exists and cron.user == "root"
    assert "/usr/local/sbin/celery-stack-tmp-clean" in cron.content_string
    assert host.file("/usr/local/sbin/celery-stack-tmp-clean").mode & 0o111


def test_temp_cleanup_removes_old_files_and_keeps_new_ones(host):
    d = "/var/tmp/celery-stack-molecule-check"
    host.run(f"rm -rf {d} && mkdir -p {d} && touch -d '3 days ago' {d}/old && touch {d}/new")
    result = host.run(f"/usr/local/sbin/celery-stack-tmp-clean -m 24 -a 1 -t 100 {d}")
    assert result.rc == 0, result.stderr
    assert not host.file(f"{d}/old").exists
    assert host.file(f"{d}/new").exists
    host.run(f"rm -rf {d}")
