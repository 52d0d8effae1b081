"""roles/kernel_tuning applied to this machine: the running kernel has what the role wrote.

Run by `make kernel-live KERNEL_LIVE=1` right after ansible/kernel-live.yml
(applied twice, the second time with changed=0). The expected values come
from the files the role rendered on this machine (/etc/sysctl.d, the cron
file) and from the role's defaults (sizing inputs, THP mode); the live ones
from `sysctl -n` and sysfs. Nothing here changes a kernel setting.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import struct
import subprocess
import time
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.kernel_live

REPO = Path(__file__).resolve().parents[2]
ROLE = REPO / "roles" / "kernel_tuning"
DEFAULTS = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
SYSCTL_FILE = Path(DEFAULTS["kernel_tuning_sysctl_file"])
CRON_FILE = Path("/etc/cron.d/celery-stack-tmp-clean")
CLEAN_SCRIPT = Path("/usr/local/sbin/celery-stack-tmp-clean")
HASHSIZE = Path("/sys/module/nf_conntrack/parameters/hashsize")
THP = Path("/sys/kernel/mm/transparent_hugepage/enabled")
MODPROBE_CONF = Path("/etc/modprobe.d/nf_conntrack.conf")

# What the issue asks the live run to prove, by name (values come from the file).
REQUIRED_KEYS = [
    "net.netfilter.nf_conntrack_max",
    "net.core.somaxconn",
    "net.ipv4.tcp_max_syn_backlog",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
    "net.ipv4.tcp_fin_timeout",
    "fs.file-max",
    # kernel-live.yml treats this machine as a Redis host (compose runs Redis here).
    "vm.overcommit_memory",
]


def rendered_sysctls() -> dict[str, str]:
    """key -> value of the role's sysctl file on this machine."""
    assert SYSCTL_FILE.is_file(), f"{SYSCTL_FILE} missing: run make kernel-live KERNEL_LIVE=1"
    values = {}
    for line in SYSCTL_FILE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";")) and "=" in line:
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip()
    return values


def live(key: str) -> str:
    result = subprocess.run(["sysctl", "-n", key], capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"sysctl -n {key}: {result.stderr.strip()}"
    return result.stdout.strip()


def test_the_rendered_file_holds_every_tuned_key():
    missing = [key for key in REQUIRED_KEYS if key not in rendered_sysctls()]
    assert not missing, f"{SYSCTL_FILE} lacks {missing}"


def test_every_key_in_the_file_is_live():
    # Covers every required key too: the test above proves each is in the file.
    # Multi-value keys print tabs where the file has spaces.
    wrong = {key: (live(key), value) for key, value in rendered_sysctls().items()
             if live(key).split() != value.split()}
    assert not wrong, f"live value differs from {SYSCTL_FILE} (live, file): {wrong}"


def test_conntrack_max_is_sized_from_this_hosts_memory():
    # The role's documented rule (README "Conntrack sizing") applied to
    # /proc/meminfo here, with the sizing inputs from the role's defaults.
    meminfo = Path("/proc/meminfo").read_text()
    memtotal_kb = int(re.search(r"^MemTotal:\s+(\d+) kB", meminfo, re.M)[1])
    per_mb = DEFAULTS["kernel_tuning_conntrack_entries_per_mb"]
    floor = DEFAULTS["kernel_tuning_conntrack_max_floor"]
    cap = DEFAULTS["kernel_tuning_conntrack_max_cap"]
    sized = min(max(memtotal_kb // 1024 * per_mb, floor), cap) // 4 * 4
    assert int(rendered_sysctls()["net.netfilter.nf_conntrack_max"]) == sized
    assert int(live("net.netfilter.nf_conntrack_max")) == sized


def test_conntrack_hash_size_is_a_quarter_of_the_table_live():
    quarter = int(rendered_sysctls()["net.netfilter.nf_conntrack_max"]) // 4
    # The kernel allocates whole pages of buckets (one pointer each).
    per_page = os.sysconf("SC_PAGE_SIZE") // struct.calcsize("P")
    allocated = -(-quarter // per_page) * per_page
    assert int(HASHSIZE.read_text()) == allocated, f"{HASHSIZE} (a quarter of the table: {quarter})"
    # The same number as the kernel reports it through sysctl.
    assert int(live("net.netfilter.nf_conntrack_buckets")) == allocated
    if MODPROBE_CONF.exists():  # a modular conntrack: the boot-time option agrees
        assert f"hashsize={quarter}" in MODPROBE_CONF.read_text()


def test_transparent_huge_pages_mode_is_the_roles():
    mode = DEFAULTS["kernel_tuning_thp_mode"]
    active = re.search(r"\[(\w+)\]", THP.read_text())[1]
    assert active == mode, f"{THP}: active {active!r}, role default {mode!r}"


def test_cleanup_script_is_the_roles_and_executable():
    installed = CLEAN_SCRIPT.stat()
    shipped = ROLE / "files" / str(CLEAN_SCRIPT).lstrip("/")
    assert CLEAN_SCRIPT.read_bytes() == shipped.read_bytes()
    assert stat.S_IMODE(installed.st_mode) == 0o755 and installed.st_uid == 0


def test_cron_file_runs_the_script_on_the_schedule():
    info = CRON_FILE.stat()
    assert stat.S_IMODE(info.st_mode) == 0o644 and info.st_uid == 0, \
        f"{CRON_FILE}: cron skips files not owned by root or writable by others"
    entries = [line for line in CRON_FILE.read_text().splitlines() if str(CLEAN_SCRIPT) in line
               and not line.startswith("#")]
    assert len(entries) == 1, CRON_FILE.read_text()
    fields = entries[0].split()
    assert " ".join(fields[:5]) == DEFAULTS["kernel_tuning_tmp_clean_schedule"]
    assert fields[5] == "root"
    for directory in DEFAULTS["kernel_tuning_tmp_clean_dirs"]:
        assert directory in fields


def test_cron_daemon_runs_on_this_machine():
    # Containers' cron processes are visible here too: only count ours
    # (same PID namespace as this test).
    own_ns = os.readlink("/proc/self/ns/pid")
    ours = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            name, ns = (proc / "comm").read_text().strip(), os.readlink(proc / "ns/pid")
            if name == "cron" and ns == own_ns:
                ours.append(proc.name)
        except OSError:
            continue  # the process ended while we looked
    assert ours, "no cron daemon on this machine: the temp cleanup would never run"


def test_installed_cleanup_removes_old_files_only(tmp_path_factory):
    # A directory of our own (pytest temp): the script sees nothing else.
    work = Path(tmp_path_factory.mktemp("kernel-live", numbered=True))
    old, new = work / "old", work / "new"
    old.write_text("x")
    new.write_text("x")
    three_days_ago = time.time() - 3 * 86400
    os.utime(old, (three_days_ago, three_days_ago))
    try:
        args = ["-m", "24", "-a", "1", "-t", "100", str(work)]
        dry = subprocess.run([str(CLEAN_SCRIPT), "-n", *args],
                             capture_output=True, text=True, check=False)
        assert dry.returncode == 0, dry.stderr
        assert dry.stdout.split() == [str(old)], f"dry run listed {dry.stdout.split()}"
        assert old.exists(), "the dry run removed a file"
        real = subprocess.run([str(CLEAN_SCRIPT), *args],
                              capture_output=True, text=True, check=False)
        assert real.returncode == 0, real.stderr
        assert not old.exists() and new.exists()
    finally:
        shutil.rmtree(work, ignore_errors=True)
