#!/bin/sh
# Render the Supervisor programs from the topology, hand the secrets to the
# celery user, then exec supervisord as PID 1 (it forwards SIGTERM to every
# program for a warm shutdown within stopwaitsecs).
#
# Environment: CELERY_STACK_TOPOLOGY (default: the packaged demo topology),
# CELERY_STACK_FLEETS (comma-separated, default: all), CELERY_STACK_BEAT=1 to
# run beat here (exactly one container of a deployment; CELERY_STACK_FLEETS=none
# for a beat-only container), CELERY_STACK_WATCHDOG_INTERVAL=S to run the
# watchdog every S seconds as a Supervisor program, and the broker/backend
# variables of celery_stack.derive.connections.
# With arguments, runs them instead (e.g. "celery-stack smoke").
set -eu

die() { echo "worker-entrypoint: $*" >&2; exit 64; }

[ "$#" -eq 0 ] || exec "$@"
[ "$(id -u)" = 0 ] || die "must start as root (supervisord drops each program to user celery)"

# Compose secrets keep the host file's owner and mode (often root 0600):
# copy each *_FILE secret to a file only the celery user can read.
secrets=/run/celery-stack/secrets
install -d -o root -g celery -m 0750 /run/celery-stack "$secrets"
for var in CELERY_STACK_BROKER_PASSWORD_FILE CELERY_STACK_REDIS_PASSWORD_FILE; do
  eval "src=\${$var:-}"
  [ -n "$src" ] || continue
  [ -r "$src" ] || die "$var: $src is missing or unreadable; mount it as a secret"
  install -o celery -g celery -m 0400 "$src" "$secrets/$var"
  export "$var=$secrets/$var"
done

if [ -n "${CELERY_STACK_TOPOLOGY:-}" ] && [ ! -r "$CELERY_STACK_TOPOLOGY" ]; then
  die "CELERY_STACK_TOPOLOGY: $CELERY_STACK_TOPOLOGY is missing or unreadable"
fi
# Fail here with one clear message, not in a Supervisor restart loop.
celery-stack render celery-settings > /dev/null

set -- render supervisor --user celery --directory /var/lib/celery-stack \
  --celery-bin /opt/celery-stack/venv/bin/celery \
  --celery-stack-bin /opt/celery-stack/venv/bin/celery-stack \
  --watchdog-interval "${CELERY_STACK_WATCHDOG_INTERVAL:-0}"
[ -z "${CELERY_STACK_TOPOLOGY:-}" ] || set -- "$@" --topology "$CELERY_STACK_TOPOLOGY"
[ -z "${CELERY_STACK_FLEETS:-}" ] || set -- "$@" --fleets "$CELERY_STACK_FLEETS"
[ "${CELERY_STACK_BEAT:-0}" != 1 ] || set -- "$@" --beat
conf=/etc/supervisor/conf.d/celery-stack.conf
celery-stack "$@" > "$conf.tmp"
mv "$conf.tmp" "$conf"

exec supervisord -n -c /etc/supervisor/supervisord.conf
