#!/bin/sh
# Read the stats password from its secret file (root-owned 0600: compose
# cannot change a file secret's owner) into the environment haproxy expands
# in its config, check the config, then exec haproxy as the haproxy user.
set -eu
file="${HAPROXY_STATS_PASSWORD_FILE:-/run/secrets/haproxy_stats_password}"
if [ ! -s "$file" ]; then
  echo "haproxy: stats password file $file is missing or empty; set HAPROXY_STATS_PASSWORD_FILE" >&2
  exit 1
fi
HAPROXY_STATS_PASSWORD=$(cat "$file")
export HAPROXY_STATS_PASSWORD
# Two descriptors per connection plus headroom; capped at 10000 by default.
if [ -z "${HAPROXY_MAXCONN:-}" ]; then
  nofile=$(ulimit -n)
  HAPROXY_MAXCONN=$(( (nofile - 200) / 2 ))
  [ "$HAPROXY_MAXCONN" -le 10000 ] || HAPROXY_MAXCONN=10000
fi
export HAPROXY_MAXCONN
haproxy -c -q -f /etc/haproxy/haproxy.cfg
exec setpriv --reuid=haproxy --regid=haproxy --init-groups --inh-caps=-all \
  haproxy -W -db -f /etc/haproxy/haproxy.cfg
