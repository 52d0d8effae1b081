#!/bin/sh
# Write redis.conf with ACL users from secret files (only SHA-256 hashes reach
# the file), then exec redis-server as the redis user so it gets SIGTERM itself.
set -eu

die() { echo "redis-entrypoint: $*" >&2; exit 64; }

[ "$(id -u)" = 0 ] || die "must start as root to read the secrets (it drops to redis)"

# Prints the SHA-256 of the password in file $1 (for 'user ... #<hash>'),
# after checking it; the password itself never leaves this process.
password_hash() {
  [ -r "$1" ] || die "password file $1 is missing or unreadable; mount it as a secret ($2)"
  pw=$(tr -d '\r\n' < "$1")
  [ "${#pw}" -ge 16 ] || die "password in $1 is shorter than 16 characters ($2)"
  # celery-stack strips whitespace when it reads the same file: refuse any.
  case $pw in *[[:space:]]*) die "password in $1 must not contain whitespace ($2)" ;; esac
  printf '%s' "$pw" | sha256sum | cut -d' ' -f1
  unset pw
}

user=${REDIS_USER:-celery}
case $user in ''|default|*[!A-Za-z0-9_.-]*) die "REDIS_USER must be a plain name other than 'default'" ;; esac
app_hash=$(password_hash "${REDIS_PASSWORD_FILE:-/run/secrets/redis_password}" REDIS_PASSWORD_FILE)
admin_line=""
if [ -n "${REDIS_ADMIN_PASSWORD_FILE:-}" ]; then
  admin_hash=$(password_hash "$REDIS_ADMIN_PASSWORD_FILE" REDIS_ADMIN_PASSWORD_FILE)
  # Operators only: the one user allowed CONFIG, FLUSHALL, DEBUG, ...
  admin_line="user admin on #$admin_hash ~* &* +@all"
fi

umask 0077
cat > /run/redis/redis.conf <<CONF
# Written by the entrypoint at container start; do not edit.
# Listen on the container's interfaces; publish the port on loopback only.
bind * -::*
port 6379
protected-mode yes
daemonize no
logfile ""
dir /var/lib/redis
# AOF: at most about one second of writes is lost on a crash.
appendonly yes
appendfsync everysec
maxclients ${REDIS_MAXCLIENTS:-10000}
maxmemory ${REDIS_MAXMEMORY:-0}
# A full Redis refuses writes instead of silently evicting stored results.
maxmemory-policy noeviction
# No anonymous access: the default user is disabled.
user default off resetpass -@all
# The application: every key and channel, no dangerous command (FLUSHALL,
# FLUSHDB, CONFIG, DEBUG, KEYS, SHUTDOWN, MONITOR, ACL, ...).
user $user on #$app_hash ~* &* +@all -@dangerous
$admin_line
CONF
chown redis:redis /run/redis/redis.conf
# Top level only: a fresh volume may be root-owned.
chown redis:redis /var/lib/redis

exec setpriv --reuid=redis --regid=redis --init-groups --inh-caps=-all \
  redis-server /run/redis/redis.conf "$@"
