"""Bad inventories must fail in preflight and leave every host untouched.

One systemd container, shared by every case of the session, stands in for
every host of the sandbox inventory (all inventory names point at it), so a
run that got past preflight would leave traces there: packages, /etc files.
Each case runs the real ansible/site.yml with one mistake and asserts the
failure names the variable, then proves the container is unchanged: no
trace path exists and its fingerprint (installed packages, every file under
/etc, /opt and /usr/local) equals the one taken before the first case.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ANSIBLE_PLAYBOOK = REPO / ".venv" / "bin" / "ansible-playbook"
HOSTS = {
    "rabbitmq": ["mq1", "mq2", "mq3"],
    "haproxy": ["lb"],
    "redis": ["cache"],
    "celery_workers": ["worker"],
    "celery_beat": ["worker"],
    "flower": ["monitor"],
}
# Paths a converge would create or change; none may appear after a failed run.
TRACES = [
    "/etc/sysctl.d/60-celery-stack.conf",
    "/etc/rabbitmq/rabbitmq.conf",
    "/etc/haproxy/haproxy.cfg",
    "/etc/redis/redis.conf",
    "/etc/celery-stack",
    "/opt/celery-stack",
    "/etc/supervisor/conf.d/celery-stack.conf",
]


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=120,
                          check=check)


# What a converge would change, as one digest: packages with version and
# state, and path, type, mode, owner, size and content of every file.
FINGERPRINT = r"""
set -eu
dpkg-query -W -f='${Package} ${Version} ${db:Status-Abbrev}\n' | sort
find /etc /opt /usr/local -xdev -printf '%p %y %m %U:%G %s %l\n' | sort
find /etc /opt /usr/local -xdev -type f -exec sha256sum {} + | sort
"""


@pytest.fixture(scope="session")
def host():
    """One systemd container for every inventory host of every case, removed at the end."""
    name = f"cs-negative-{uuid.uuid4().hex[:8]}"
    distro = os.environ.get("MOLECULE_DISTRO", "trixie")
    docker("run", "-d", "--name", name, "--hostname", name, "--cap-add", "SYS_ADMIN",
           "--cgroupns", "host", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
           "--tmpfs", "/run", "--tmpfs", "/run/lock", "--tmpfs", "/tmp",
           "--security-opt", "seccomp=unconfined", f"celery-stack/molecule-host:{distro}",
           "/lib/systemd/systemd")
    try:
        # Boot finished (running or degraded) before the baseline: systemd writes
        # /etc/.updated and fixes /etc/mtab late in the boot. `--wait` fails
        # until systemd's bus is up, so ask again; the boot takes seconds.
        deadline = time.monotonic() + 120
        while docker("exec", name, "systemctl", "is-system-running", "--wait",
                     check=False).stdout.strip() not in ("running", "degraded"):
            assert time.monotonic() < deadline, f"{name}: systemd did not finish booting"
            time.sleep(1)
        yield name
    finally:
        docker("rm", "-f", name, check=False)


def fingerprint(container: str) -> str:
    result = docker("exec", container, "sh", "-c", FINGERPRINT)
    return hashlib.sha256(result.stdout.encode()).hexdigest()


@pytest.fixture(scope="session")
def baseline(host) -> str:
    """The shared host's fingerprint before any case ran."""
    return fingerprint(host)


def inventory(path: Path, container: str, groups: dict[str, list[str]]) -> Path:
    lines = ["all:", "  vars:", "    ansible_connection: community.docker.docker",
             f"    ansible_host: {container}", "  children:"]
    for group, hosts in groups.items():
        lines += [f"    {group}:", "      hosts:"] + [f"        {h}:" for h in hosts]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    # The sandbox's group_vars apply to this inventory too (same wiring as real use).
    (path.parent / "group_vars").symlink_to(REPO / "inventories" / "sandbox" / "group_vars")
    return path


@pytest.fixture(scope="session")
def fact_cache(tmp_path_factory) -> Path:
    """Facts of the inventory names, gathered by the first case that reaches play 2.

    Every name is the same container, which no case changes (each proves it),
    so later cases reuse those facts instead of gathering 7 aliases again: a
    setup call costs ~1.7 CPU-s on the machine (measured 2026-12-03), 7 per case.
    """
    return tmp_path_factory.mktemp("facts")


def run_site(inv: Path, extra_vars: Path | None, facts: Path) -> subprocess.CompletedProcess:
    cmd = [str(ANSIBLE_PLAYBOOK), "-i", str(inv), "ansible/site.yml"]
    if extra_vars is not None:
        cmd += ["-e", f"@{extra_vars}"]
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible" / "ansible.cfg"),
           "ANSIBLE_NOCOLOR": "1", "PATH": f"{REPO / '.venv' / 'bin'}:{os.environ['PATH']}",
           # gathering = smart (ansible.cfg) skips hosts whose facts are cached.
           "ANSIBLE_CACHE_PLUGIN": "jsonfile", "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(facts),
           "ANSIBLE_CACHE_PLUGIN_TIMEOUT": "0"}
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600, env=env,
                          check=False)


def traces(container: str) -> list[str]:
    """The TRACES paths that exist on the host (one `docker exec` for all of them)."""
    script = 'for p in "$@"; do if [ -e "$p" ]; then echo "$p"; fi; done'
    return docker("exec", container, "sh", "-c", script, "sh", *TRACES).stdout.split()
