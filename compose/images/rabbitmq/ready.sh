#!/bin/sh
# Readiness: the RabbitMQ application runs (not only the Erlang VM) and no
# memory/disk alarm is blocking publishers on this node.
set -e
rabbitmq-diagnostics -q check_running
rabbitmq-diagnostics -q check_local_alarms
