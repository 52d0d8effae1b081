"""kernel_tuning: the files carry the production values.

Every host gets the same files except the Redis host (its own sysctls):
the checks run on the Redis host and on one other host.
"""

from infra import first

testinfra_hosts = [first("redis"), first("rabbitmq")]


# The RabbitMQ networking guide's production minimums (DOMAIN.md), and its fin timeout.
MINIMUMS = {"net.core.somaxconn": 4096, "net.ipv4.tcp_max_syn_backlog": 4096,
            "net.netfilter.nf_conntrack_max": 131072}


def test_sysctl_file_carries_the_production_values(host):
    content = host.file("/etc/sysctl.d/60-celery-stack.conf").content_string
    values = dict(line.split("=", 1) for line in content.splitlines()
                  if "=" in line and not line.startswith("#"))
    values = {k.strip(): v.strip() for k, v in values.items()}
    low = {k: values.get(k) for k, minimum in MINIMUMS.items() if int(values.get(k, 0)) < minimum}
    assert not low, f"below {MINIMUMS}: {low}"
    assert values["net.ipv4.tcp_fin_timeout"] == "30"


def test_temp_cleanup_cron_is_installed_and_runs_the_script(host):
    cron = host.file("/etc/cron.d/celery-stack-tmp-clean")
    assert cron.exists and cron.user == "root"
    assert "/usr/local/sbin/celery-stack-tmp-clean" in cron.content_string
    assert host.file("/usr/local/sbin/celery-stack-tmp-clean").mode & 0o111
