"""A broker restart that fails stops the rolling restart at that node.

The role's handler restarts one node at a time through
/usr/local/sbin/rabbitmq-restart-and-wait. Here the first node gets a
rabbitmq.conf RabbitMQ refuses (an unknown key, as a bad
rabbitmq_config_extra would write): its restart must fail, naming the node
and showing its log; the next node's restart must then refuse without
touching it (the cluster is not whole), and the two running nodes keep
serving the smoke task. Phase 4, before the failover checks; the first node
is started again with its good configuration whatever happened.
"""

import pytest
from infra import first, group, host_of
from test_haproxy_failover import NODE_TIMEOUT, running_nodes, smoke, wait

pytestmark = pytest.mark.phase(4)
BROKERS = group("rabbitmq")
testinfra_hosts = [BROKERS[0]]
HELPER = "/usr/local/sbin/rabbitmq-restart-and-wait"
CONF = "/etc/rabbitmq/rabbitmq.conf"


def main_pid(broker) -> str:
    return broker.check_output("systemctl show rabbitmq-server -P MainPID")


def test_a_failed_restart_stops_at_that_node_and_the_others_serve(host):
    nxt = host_of(BROKERS[1])
    worker = host_of(first("celery_workers"))
    assert len(running_nodes(host)) == len(BROKERS), "the cluster is not whole before the test"
    host.run_expect([0], f"cp -p {CONF} {CONF}.good")
    try:
        host.run_expect([0], f"echo 'celery_stack_no_such_setting = 1' >> {CONF}")
        failed = host.run(HELPER)
        assert failed.rc != 0, f"the restart with a bad config succeeded:\n{failed.stdout}"
        assert "did not come back" in failed.stderr, failed.stderr
        assert "celery_stack_no_such_setting" in failed.stderr, "no log tail of the node"

        before = main_pid(nxt)
        refused = nxt.run(HELPER)
        assert refused.rc != 0, f"the next node restarted with the cluster not whole:\n{refused}"
        assert "not restarting" in refused.stderr and "cluster nodes run" in refused.stderr, (
            refused.stderr)
        assert nxt.service("rabbitmq-server").is_running and main_pid(nxt) == before, (
            "the refused node was touched")
        assert len(running_nodes(nxt)) == len(BROKERS) - 1
        served = smoke(worker, None, timeout=90)
        assert served.rc == 0, served.stdout + served.stderr
    finally:
        host.run(f"mv {CONF}.good {CONF} && systemctl reset-failed rabbitmq-server; "
                 "systemctl start rabbitmq-server && rabbitmqctl -q await_startup && "
                 "rabbitmq-upgrade -q revive")
        wait("the whole cluster again", lambda: len(running_nodes(host)) == len(BROKERS),
             NODE_TIMEOUT)
