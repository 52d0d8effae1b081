"""No secret on any command line, on any host, during converge and idempotence.

scripts/molecule-cluster.sh runs scripts/cmdline_sampler.py on the machine
that holds the molecule hosts, from before they are created until every
distro's idempotence has ended: from the kernel's process events it reads the
command line of every program started on the machine (every host's and the
Ansible controller's) as it starts, and sweeps /proc every second for
command lines rewritten later. It has stopped before verify, whose own checks
put passwords on their command lines (Flower's curl, say).
The secrets are the generated files Molecule's inventory reads
(infra.SECRETS); they are created on the controller during converge, so a
sampler that started before the oldest of them saw the whole converge.
"""

import json
import os
from pathlib import Path

import pytest
from infra import SECRETS, first

pytestmark = pytest.mark.phase(0)
# What is checked lives on this machine, not on a host: one run per distro.
testinfra_hosts = [first("rabbitmq")]


def sampler_dir() -> Path:
    where = os.environ.get("CELERY_STACK_CMDLINE_SAMPLER_DIR")
    assert where, ("CELERY_STACK_CMDLINE_SAMPLER_DIR is not set: run molecule through "
                   "scripts/molecule-cluster.sh (make molecule), which starts the sampler")
    return Path(where)


def secrets() -> dict[str, str]:
    files = sorted(p for p in SECRETS.iterdir() if p.is_file())
    assert files, f"{SECRETS}: no generated secret (converge creates them)"
    return {p.name: p.read_text(encoding="utf-8").strip() for p in files}


def test_no_secret_appeared_on_any_command_line():
    status = json.loads((sampler_dir() / "status.json").read_text(encoding="utf-8"))
    stamps = [p.stat().st_mtime for p in SECRETS.iterdir() if p.is_file()]
    assert stamps, f"{SECRETS}: no generated secret (converge creates them)"
    assert status["started"] < min(stamps), "the sampler started after converge had begun"
    assert "stopped" in status, "the sampler did not end cleanly after idempotence"
    assert status["stopped"] > max(stamps), "the sampler stopped before the last secret was made"
    print(f"{status['execs']} execs: {status['read']} read, {status['gone']} ended before "
          f"their read, {status['lost']} events lost; largest delay exec to read "
          f"{status['max_delay']} s, {status['late']} over {status['late_s']} s; "
          f"{status['sweeps']} sweeps")
    assert status["lost"] == 0, "the kernel dropped process events: some execs went unseen"
    # Every program looked at within 0.2 s of its exec (issue 11's acceptance): one
    # that ended before its read lived less than that read's delay.
    assert status["late"] == 0, (f"{status['late']} of {status['execs']} execs were read more "
                                 f"than {status['late_s']} s after they began "
                                 f"(max {status['max_delay']} s)")
    seen = (sampler_dir() / "cmdlines").read_text(encoding="utf-8", errors="replace")
    for program in ("ansible-playbook", "rabbitmq-server", "supervisord"):  # controller, hosts
        assert program in seen, f"the sampler never saw {program}: it missed the converge"
    leaked = sorted(name for name, value in secrets().items() if value in seen)
    assert not leaked, f"generated secrets seen on a command line during converge: {leaked}"
