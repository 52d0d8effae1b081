#!/bin/sh
# Re-apply the definitions secret to the running cluster (policies, queues,
# users) after the topology changed: boot-time loading only runs at start.
# Importing is idempotent; run it on any one node (definitions are cluster-wide).
set -eu
src=${RABBITMQ_DEFINITIONS_FILE:-/run/secrets/rabbitmq_definitions}
install -o rabbitmq -g rabbitmq -m 0400 "$src" /run/rabbitmq/definitions.json
exec setpriv --reuid=rabbitmq --regid=rabbitmq --init-groups \
  env HOME=/var/lib/rabbitmq rabbitmqctl -q import_definitions /run/rabbitmq/definitions.json
