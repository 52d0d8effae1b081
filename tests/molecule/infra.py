"""Inventory, secrets and live-process helpers shared by the molecule tests."""

from __future__ import annotations

import os
from pathlib import Path

import testinfra
import testinfra.utils.ansible_runner
import yaml

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
RUNNER = testinfra.utils.ansible_runner.AnsibleRunner(INVENTORY)
SECRETS = Path(INVENTORY).parent / ".secrets"
ROLES = Path(__file__).resolve().parents[2] / "roles"


def group(name: str) -> list[str]:
    """Inventory hosts of group ``name``."""
    return RUNNER.get_hosts(name)


def first(name: str) -> str:
    """The one host of group ``name`` that stands for all of them."""
    hosts = group(name)
    assert hosts, f"inventory group {name} is empty"
    return hosts[0]


def host_of(name: str):
    """A testinfra host for inventory host ``name`` (for checks that span hosts)."""
    return testinfra.get_host(f"ansible://{name}?ansible_inventory={INVENTORY}")


def secret(name: str) -> str:
    """A generated sandbox secret; fails (never skips) when it is missing."""
    path = SECRETS / name
    assert path.is_file(), f"{path}: the sandbox secret is missing (converge generates it)"
    return path.read_text(encoding="utf-8").strip()


def configured(host_name: str, role: str, var: str):
    """``var`` as the inventory sets it for ``host_name``, else the role's default."""
    hostvars = RUNNER.get_variables(host_name)
    if var in hostvars:
        return hostvars[var]
    defaults = yaml.safe_load((ROLES / role / "defaults" / "main.yml").read_text("utf-8"))
    return defaults[var]


def open_files_limits(host, pid: int) -> tuple[int, int]:
    """(soft, hard) 'Max open files' of a live process, from /proc/<pid>/limits."""
    text = host.file(f"/proc/{pid}/limits").content_string
    row = next(line for line in text.splitlines() if line.startswith("Max open files"))
    soft, hard = row.split()[3:5]
    return int(soft), int(hard)


def main_pid(host, unit: str) -> int:
    pid = int(host.run(f"systemctl show -p MainPID --value {unit}").stdout.strip() or 0)
    assert pid > 0, f"{unit} has no main process"
    return pid
