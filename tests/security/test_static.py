"""Static security checks of the repository (no stack needed).

Acceptance (issue 5, security): no default, empty or literal credential in any
tracked file (allow-list below, each with its reason); every published compose
port is bound to ${CELERY_STACK_BIND:-127.0.0.1}; Erlang distribution ports
(4369, 25672, 35672-35682) are never published, exposed or forwarded; every
Ansible task that uses a secret variable has no_log: true.
Run: make security (with the running-stack checks).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from celery_stack.derive import compose as derive_compose
from celery_stack.topology import load

from . import scan
from .scan import REPO

pytestmark = pytest.mark.security

ERLANG_PORTS = {4369, 25672, *range(35672, 35683)}
BIND_PREFIX = "${CELERY_STACK_BIND:-127.0.0.1}:"
# (path, fragment of the finding) -> why it is not a credential problem. Keep it small.
ALLOWED = {
    ("src/celery_stack/envcheck.py", "changeme"):
        "the check-env deny-list of weak values itself",
    ("roles/rabbitmq/vars/main.yml", "default() with an empty literal"):
        "an absent password becomes '' so the preflight assert (length >= 16, no_log) names it",
    ("tests/security/test_stack.py", "password = literal"):
        "the guest/guest login that the test proves is refused",
    ("tests/security/scan.py", ""):
        "the scanner's own patterns of default credentials",
    ("tests/security/test_static.py", ""):
        "known-bad snippets proving the scanners find what they look for",
    ("tests/unit/", "URL with a literal password"):
        "fake URLs testing credential parsing and redaction",
    ("tests/unit/test_derive_celery_settings.py", "PASSWORD = literal"):
        "fake password testing that settings never print it",
    ("tests/unit/test_derive_rabbitmq_users.py", "topsecret"):
        "fake password testing the salted hash",
}


def allowed(path: str, finding: str) -> bool:
    return any(path.startswith(p) and fragment in finding for p, fragment in ALLOWED)


def findings_in(path: Path) -> list[str]:
    rel = str(path.relative_to(REPO))
    text = path.read_text(encoding="utf-8", errors="replace")
    found = [f"{rel}:{n}: {p}" for n, p in scan.line_findings(text)]
    if path.suffix in (".yml", ".yaml"):
        found += [f"{rel}: {w}: {p}" for w, p in scan.yaml_findings(text)]
    if path.suffix == ".py":
        found += [f"{rel}:{n}: {p}" for n, p in scan.python_findings(text)]
    return [f for f in found if not allowed(rel, f)]


# ------------------------------------------------------------ the scanners

def test_scanners_find_known_bad_snippets() -> None:
    """The scans must be able to fail: each known-bad line is found."""
    bad_lines = [
        "broker_url: amqp://guest:guest@localhost//",
        "password = changeme",
        "url = 'redis://celery:s3cretvalue@redis:6379/0'",
        "x: '{{ redis_password | default(\"hunter\") }}'",
        "y: '{{ flower_password | default(\"\") }}'",
    ]
    for line in bad_lines:
        assert list(scan.line_findings(line)), line
    assert [w for w, _ in scan.yaml_findings("a:\n  redis_password: abcdefgh\n  b_cookie: ''\n")
            ] == ["a.redis_password", "a.b_cookie"]
    assert not list(scan.yaml_findings("p: '{{ vault_p }}'\nq_password_file: /run/x\nr: null\n"))
    assert [n for n, _ in scan.python_findings("api_key = 'abc'\nf(password='')\n")] == [1, 2]
    task = ("- name: t\n  ansible.builtin.copy:\n    content: '{{ redis_password }}'\n"
            "    dest: /x\n- name: ok\n  ansible.builtin.copy:\n    content: '{{ a_cookie }}'\n"
            "    dest: /y\n  no_log: true\n- block:\n  - name: inner\n    ansible.builtin.debug:\n"
            "      msg: '{{ vault_x }}'\n  no_log: true\n")
    assert list(scan.tasks_without_no_log(task)) == [("t", ["redis_password"])]


# ------------------------------------------------------------- credentials

def test_no_default_empty_or_literal_credential_in_tracked_files() -> None:
    files = [p for p in scan.tracked_files() if p.is_file() and scan.is_text(p)]
    assert len(files) > 100, "git ls-files found too few files to be this repository"
    problems = [f for p in files for f in findings_in(p)]
    assert not problems, "credentials in tracked files:\n" + "\n".join(problems)


def test_allow_list_entries_are_still_needed() -> None:
    """Each allow-list entry still matches something (a stale one would hide a future leak)."""
    files = [p for p in scan.tracked_files() if p.is_file() and scan.is_text(p)]
    unused = []
    for prefix, fragment in ALLOWED:
        hits = []
        for p in files:
            rel = str(p.relative_to(REPO))
            if not rel.startswith(prefix):
                continue
            text = p.read_text(encoding="utf-8", errors="replace")
            found = [pr for _, pr in scan.line_findings(text)]
            if p.suffix in (".yml", ".yaml"):
                found += [pr for _, pr in scan.yaml_findings(text)]
            if p.suffix == ".py":
                found += [pr for _, pr in scan.python_findings(text)]
            hits += [f for f in found if fragment in f]
        if not hits:
            unused.append((prefix, fragment))
    assert not unused, f"allow-list entries matching nothing; remove them: {unused}"


def test_no_secret_files_are_tracked() -> None:
    tracked = [str(p.relative_to(REPO)) for p in scan.tracked_files()]
    leaked = [p for p in tracked if p.startswith("secrets/") or "/.secrets/" in p
              or re.search(r"(^|/)(erlang_cookie|\.erlang\.cookie|\w+_password)$", p)]
    assert not leaked, leaked


# ------------------------------------------------------------------- ports

def compose_docs() -> dict[str, dict]:
    docs = {f: yaml.safe_load((REPO / f).read_text(encoding="utf-8"))
            for f in ("compose/compose.yaml", "compose/worker.yaml")}
    docs["fleets (rendered)"] = yaml.safe_load(derive_compose.render(load(None)))
    return docs


def test_every_published_port_is_bound_to_the_bind_variable() -> None:
    published = []
    for name, doc in compose_docs().items():
        for service, spec in doc["services"].items():
            for port in spec.get("ports", []):
                published.append((name, service, port))
                assert isinstance(port, str) and port.startswith(BIND_PREFIX), (
                    f"{name}: {service}: port {port!r} must start with {BIND_PREFIX}")
                target = int(port.rsplit(":", 1)[1].split("/")[0])
                assert target not in ERLANG_PORTS, f"{service} publishes Erlang port {target}"
            for port in spec.get("expose", []):
                assert int(str(port).split("/")[0]) not in ERLANG_PORTS, (service, port)
    assert {s for _, s, _ in published} == {"haproxy", "flower"}, published


def test_compose_publishes_on_loopback_by_default() -> None:
    """What compose itself makes of the file with CELERY_STACK_BIND unset."""
    env = {k: v for k, v in os.environ.items() if k != "CELERY_STACK_BIND"}
    env.setdefault("CELERY_STACK_NOFILE", "65536")
    proc = subprocess.run(["docker", "compose", "-f", "compose/compose.yaml", "config",
                           "--format", "json"], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    ports = [(s, p) for s, spec in json.loads(proc.stdout)["services"].items()
             for p in spec.get("ports", [])]
    assert sorted(int(p["target"]) for _, p in ports) == [5555, 5672, 8404, 15672], ports
    assert all(p.get("host_ip") == "127.0.0.1" for _, p in ports), ports


def test_erlang_distribution_ports_never_exposed_or_forwarded() -> None:
    for dockerfile in sorted(REPO.glob("compose/images/*/Dockerfile")):
        for line in dockerfile.read_text(encoding="utf-8").splitlines():
            if line.startswith("EXPOSE"):
                exposed = {int(p.split("/")[0]) for p in line.split()[1:]}
                assert not exposed & ERLANG_PORTS, f"{dockerfile}: {line}"
    for cfg in [REPO / "compose/images/haproxy/haproxy.cfg",
                *REPO.glob("roles/haproxy/templates/**/*.j2")]:
        text = cfg.read_text(encoding="utf-8")
        for port in re.findall(r"^\s*(?:bind|server)\s.*?:(\d+)", text, re.MULTILINE):
            assert int(port) not in ERLANG_PORTS, f"{cfg}: forwards Erlang port {port}"


# -------------------------------------------------------------------- Ansible

def ansible_task_files() -> list[Path]:
    return sorted([*REPO.glob("roles/*/tasks/*.yml"), *REPO.glob("roles/*/handlers/*.yml"),
                   *REPO.glob("ansible/playbooks/*.yml"), *REPO.glob("ansible/*.yml")])


def test_every_task_using_a_secret_has_no_log() -> None:
    files = ansible_task_files()
    assert len(files) > 20, files
    missing = [f"{p.relative_to(REPO)}: {name!r} uses {', '.join(used)}"
               for p in files
               for name, used in scan.tasks_without_no_log(p.read_text(encoding="utf-8"))]
    assert not missing, "tasks without no_log: true:\n" + "\n".join(missing)
