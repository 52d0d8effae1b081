"""Bad inventories must fail in preflight and leave every host untouched.

One systemd container stands in for every host of the sandbox inventory
(all inventory names point at it), so a run that got past preflight would
leave traces there: packages, /etc files. Each case runs the real
ansible/site.yml with one mistake and asserts the failure names the
variable, then proves the container is unchanged.
"""

from __future__ import annotations

import os
import subprocess
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


@pytest.fixture()
def host():
    """A fresh systemd container for every inventory host of one case, removed after it."""
    name = f"cs-negative-{uuid.uuid4().hex[:8]}"
    distro = os.environ.get("MOLECULE_DISTRO", "trixie")
    docker("run", "-d", "--name", name, "--hostname", name, "--cap-add", "SYS_ADMIN",
           "--cgroupns", "host", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
           "--tmpfs", "/run", "--tmpfs", "/run/lock", "--tmpfs", "/tmp",
           "--security-opt", "seccomp=unconfined", f"celery-stack/molecule-host:{distro}",
           "/lib/systemd/systemd")
    try:
        yield name
    finally:
        docker("rm", "-f", name, check=False)


def inventory(path: Path, container: str, groups: dict[str, list[str]]) -> Path:
    lines = ["all:", "  vars:", "    ansible_connection: community.docker.docker",
             f"    ansible_host: {container}", "  children:"]
    for group, hosts in groups.items():
        lines += [f"    {group}:", "      hosts:"] + [f"        {h}:" for h in hosts]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    # The sandbox's group_vars apply to this inventory too (same wiring as real use).
    (path.parent / "group_vars").symlink_to(REPO / "inventories" / "sandbox" / "group_vars")
    return path


def run_site(inv: Path, extra_vars: Path | None) -> subprocess.CompletedProcess:
    cmd = [str(ANSIBLE_PLAYBOOK), "-i", str(inv), "ansible/site.yml"]
    if extra_vars is not None:
        cmd += ["-e", f"@{extra_vars}"]
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible" / "ansible.cfg"),
           "ANSIBLE_NOCOLOR": "1", "PATH": f"{REPO / '.venv' / 'bin'}:{os.environ['PATH']}"}
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600, env=env,
                          check=False)


def traces(container: str) -> list[str]:
    found = []
    for path in TRACES:
        if docker("exec", container, "test", "-e", path, check=False).returncode == 0:
            found.append(path)
    return found
