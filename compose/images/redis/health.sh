#!/bin/sh
# Health: the application user can authenticate and PING. The password goes
# through REDISCLI_AUTH (environment), never the command line or the output.
set -eu
REDISCLI_AUTH=$(tr -d '\r\n' < "${REDIS_PASSWORD_FILE:-/run/secrets/redis_password}")
export REDISCLI_AUTH
# The reply itself is checked on the next line (an error text is not PONG).
reply=$(redis-cli --no-auth-warning --user "${REDIS_USER:-celery}" -h 127.0.0.1 -p 6379 ping 2>&1) || true
[ "$reply" = PONG ] || { echo "redis-health: ping failed: $reply" >&2; exit 1; }
