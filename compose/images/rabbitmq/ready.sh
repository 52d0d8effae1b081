#!/bin/bash
# Readiness: the RabbitMQ application runs (not only the Erlang VM) and no
# memory, disk or file-descriptor alarm is blocking publishers on this node.
#
# Read from the node's own Prometheus endpoint on loopback (rabbitmq_prometheus
# answers without credentials; it runs only while the rabbit application runs,
# and its rabbitmq_alarms_* gauges are this node's alarms). rabbitmq-diagnostics
# boots an Erlang VM per call: about 0.9 CPU-s each, measured, so the former
# check_running + check_local_alarms every 10 s cost each node 0.18 of a core,
# and under load a check could outlive its timeout and leave orphans behind.
set -euo pipefail

port=${RABBITMQ_PROMETHEUS_PORT:-15692}
exec 3<>"/dev/tcp/127.0.0.1/$port" || { echo "rabbitmq-ready: nothing listens on 127.0.0.1:$port (rabbit application not running)" >&2; exit 1; }
printf 'GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
timeout 10 cat <&3 | tr -d '\r' | awk '
  NR == 1 && $2 != "200" { print "rabbitmq-ready: /metrics answered " $0 > "/dev/stderr"; exit 1 }
  /^rabbitmq_alarms_[a-z_]+ / { seen++; if ($2 != 0) { print "rabbitmq-ready: alarm in effect: " $1 > "/dev/stderr"; bad = 1 } }
  END { if (!seen && !bad) { print "rabbitmq-ready: no rabbitmq_alarms_* gauges in /metrics" > "/dev/stderr"; exit 1 } exit bad }'
