#!/bin/sh
# Read the stats password from its secret file into the environment haproxy
# expands in its config, check the config, then exec so haproxy gets signals.
set -eu
file="${HAPROXY_STATS_PASSWORD_FILE:-/run/secrets/haproxy_stats_password}"
if [ ! -s "$file" ]; then
  echo "haproxy: stats password file $file is missing or empty; set HAPROXY_STATS_PASSWORD_FILE" >&2
  exit 1
fi
HAPROXY_STATS_PASSWORD=$(cat "$file")
export HAPROXY_STATS_PASSWORD
haproxy -c -q -f /etc/haproxy/haproxy.cfg
exec haproxy -W -db -f /etc/haproxy/haproxy.cfg
