"""No secret on any command line, on any host, during converge and idempotence.

molecule/cluster/prepare.yml starts a sampler on every host before converge:
it records each distinct /proc/*/cmdline, one scan every 0.1 s. Phase 0,
first: it reads what the sampler saw before any test ran a command (some
checks put a password on their own command lines later, e.g. Flower's curl).
The secrets are the generated files Molecule's inventory reads
(infra.SECRETS); they are created on the controller during converge, so a
sampler that started before the oldest of them saw the whole converge.
"""

import json

import pytest
from infra import SECRETS, group

pytestmark = pytest.mark.phase(0)
testinfra_hosts = group("all")
SAMPLER_DIR = "/root/cmdline-sampler"
# Share of scan gaps allowed above the sampler's 0.2 s bound: none but a rare
# scheduling hiccup (a loaded machine), each printed with the largest gap.
LATE_SHARE = 0.01


def secrets() -> dict[str, str]:
    files = sorted(p for p in SECRETS.iterdir() if p.is_file())
    assert files, f"{SECRETS}: no generated secret (converge creates them)"
    return {p.name: p.read_text(encoding="utf-8").strip() for p in files}


def test_no_secret_appeared_on_any_command_line(host):
    status = json.loads(host.file(f"{SAMPLER_DIR}/status.json").content_string)
    oldest = min(p.stat().st_mtime for p in SECRETS.iterdir() if p.is_file())
    assert status["started"] < oldest, "the sampler started after converge had begun"
    assert host.run(f"kill -0 {status['pid']}").rc == 0, "the sampler died before verify"
    late = status["late"] / max(1, status["scans"] - 1)
    print(f"{status['scans']} scans, {status['late']} gaps over {status['late_s']} s "
          f"(max {status['max_gap']} s)")
    assert late <= LATE_SHARE, (f"{status['late']} of {status['scans']} scans came more than "
                                f"{status['late_s']} s apart (max {status['max_gap']} s)")
    seen = host.file(f"{SAMPLER_DIR}/cmdlines").content_string
    assert seen.count("\n") > 10, "the sampler recorded almost nothing"
    leaked = sorted(name for name, value in secrets().items() if value in seen)
    assert not leaked, f"secrets on a command line of {host.backend.host}: {leaked}"
