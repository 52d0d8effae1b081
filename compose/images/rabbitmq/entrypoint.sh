#!/bin/sh
# Install secrets with the owner/mode RabbitMQ needs (compose file secrets
# cannot set them), write per-deployment settings, then exec the server as
# the rabbitmq user so it is PID 1 and receives SIGTERM itself.
set -eu

die() { echo "rabbitmq-entrypoint: $*" >&2; exit 64; }

cookie_file=${RABBITMQ_ERLANG_COOKIE_FILE:-/run/secrets/erlang_cookie}
definitions_file=${RABBITMQ_DEFINITIONS_FILE:-/run/secrets/rabbitmq_definitions}
memory=${RABBITMQ_VM_MEMORY_HIGH_WATERMARK:?set RABBITMQ_VM_MEMORY_HIGH_WATERMARK, e.g. 1GiB}
disk=${RABBITMQ_DISK_FREE_LIMIT:?set RABBITMQ_DISK_FREE_LIMIT, e.g. 1GiB}

[ "$(id -u)" = 0 ] || die "must start as root to install the Erlang cookie (it drops to rabbitmq)"

# --- Erlang cookie: one random value per cluster, never baked into an image.
[ -r "$cookie_file" ] || die "Erlang cookie file $cookie_file is missing or unreadable; mount it as a secret (RABBITMQ_ERLANG_COOKIE_FILE)"
cookie=$(tr -d '\r\n' < "$cookie_file")
[ "${#cookie}" -ge 32 ] || die "Erlang cookie in $cookie_file is shorter than 32 characters; generate a random one (e.g. openssl rand -hex 32)"
case $cookie in *[!A-Za-z0-9]*) die "Erlang cookie in $cookie_file must be letters and digits only" ;; esac
target=/var/lib/rabbitmq/.erlang.cookie
rm -f "$target"
# umask first: the file never exists with wider permissions, even briefly.
(umask 0377 && printf '%s' "$cookie" > "$target")
chown rabbitmq:rabbitmq "$target"
chmod 0400 "$target"
unset cookie

# --- Definitions (vhost, users with password hashes, queues, policies).
[ -r "$definitions_file" ] || die "definitions file $definitions_file is missing or unreadable; mount it as a secret (RABBITMQ_DEFINITIONS_FILE): without it the node would have no users"
install -o rabbitmq -g rabbitmq -m 0400 "$definitions_file" /run/rabbitmq/definitions.json

# Values are checked by RabbitMQ itself (it refuses to boot on a bad unit).
# Imports at boot are skipped when the file's hash matches the one the cluster
# recorded: on a first formation only the first node to boot imports, because
# concurrent imports crash a node whose policy update reaches a quorum queue
# leader on a peer still booting (noproc rabbit_fifo_dlx_sup, seen here).
cat > /etc/rabbitmq/conf.d/10-runtime.conf <<CONF
# Written by the entrypoint at container start; do not edit.
definitions.import_backend = local_filesystem
definitions.local.path = /run/rabbitmq/definitions.json
definitions.skip_if_unchanged = true
definitions.hashing.algorithm = sha256
vm_memory_high_watermark.absolute = $memory
disk_free_limit.absolute = $disk
CONF

# --- First formation: a blank node other than the first listed peer starts a
# little later, so the first listed node has the longest uptime, which is what
# RabbitMQ's peer discovery ranks first: every node then picks it as the seed
# and it imports the definitions before the others join. (All still start
# together: a blank 4.x node waits for its peers.)
node="rabbit@$(hostname)"
seed=$(sed -n 's/^cluster_formation\.classic_config\.nodes\.1 *= *//p' /etc/rabbitmq/conf.d/*.conf 2>/dev/null | head -n 1)
if [ -n "$seed" ] && [ "$seed" != "$node" ] && [ ! -d "/var/lib/rabbitmq/mnesia/$node" ]; then
  echo "rabbitmq-entrypoint: blank node, $seed seeds the cluster: starting in ${RABBITMQ_JOIN_DELAY:-5} s"
  sleep "${RABBITMQ_JOIN_DELAY:-5}"
fi

# Top level only: a fresh volume may be root-owned; a recursive chown of a big
# data directory would slow every start.
chown rabbitmq:rabbitmq /var/lib/rabbitmq
cd /var/lib/rabbitmq
exec setpriv --reuid=rabbitmq --regid=rabbitmq --init-groups --inh-caps=-all \
  env HOME=/var/lib/rabbitmq /usr/lib/rabbitmq/bin/rabbitmq-server "$@"
