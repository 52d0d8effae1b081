"""Start Flower with secrets read from files, never from the command line.

Flower reads FLOWER_* variables itself; passing passwords that way keeps
them out of `ps` and `docker inspect`. Refuses to start without auth.
"""

import os
import pwd
import sys
from pathlib import Path
from urllib.parse import quote


def secret(var: str) -> str:
    path = os.environ.get(var, "")
    try:
        value = Path(path).read_text(encoding="utf-8").strip()
    except OSError:
        value = ""
    if not value:
        sys.exit(f"flower: {var} must name a non-empty secret file (got {path!r})")
    return value


env = os.environ
user = env.get("FLOWER_USER", "admin")
app_user = env["CELERY_STACK_BROKER_USER"]
monitor = env.get("CELERY_STACK_MONITORING_USER", "monitoring")
vhost = quote(env.get("CELERY_STACK_BROKER_VHOST", "/"), safe="")
hosts = [h for h in env.get("CELERY_STACK_BROKER_HOSTS", "").split(",") if h]
if not hosts:
    sys.exit("flower: CELERY_STACK_BROKER_HOSTS is empty; give host:port[,host:port]")
app_pw = quote(secret("CELERY_STACK_BROKER_PASSWORD_FILE"), safe="")
broker = ";".join(f"amqp://{app_user}:{app_pw}@{h}/{vhost}" for h in hosts)
mon_pw = quote(secret("CELERY_STACK_MONITORING_PASSWORD_FILE"), safe="")
api = env.get("FLOWER_MANAGEMENT_URL", "http://haproxy:15672/api/")
scheme, rest = api.split("://", 1)

env["FLOWER_BASIC_AUTH"] = f"{user}:{secret('FLOWER_PASSWORD_FILE')}"
env["FLOWER_BROKER_API"] = f"{scheme}://{monitor}:{mon_pw}@{rest}"
# Celery reads the broker URL from the environment: no password in `ps`.
env["CELERY_BROKER_URL"] = broker
argv = [
    "/opt/flower/bin/celery", "flower",
    f"--port={env.get('FLOWER_PORT', '5555')}",
    # Bounded memory: keep at most this many tasks in Flower's state.
    f"--max_tasks={env.get('FLOWER_MAX_TASKS', '10000')}",
    # Flower's own database is known to corrupt; it is off unless asked.
    "--persistent=False",
]
# Secrets are read: drop root for good before Flower starts.
account = pwd.getpwnam("flower")
os.setgroups([])
os.setgid(account.pw_gid)
os.setuid(account.pw_uid)
env["HOME"] = account.pw_dir
os.execv(argv[0], argv)
