"""Ansible never prints a secret: a real ansible-playbook run, verbose, with known fake secrets.

Acceptance (issue 5, security: secrets never in Ansible output). Cheap and
real: the preflight plays of ansible/site.yml (`--tags preflight --check -v`)
run against this machine through `connection: local` (one host in every
group; preflight changes nothing), with the sandbox group_vars and every
secret replaced by a distinctive fake value. The tasks that handle secrets do
run (their hidden-result notices are counted); the last one (Flower's) is
given a too-short password, so the run also fails on a secret check, and no
fake value may appear anywhere in the output. The static no_log check of every task is
in test_static.py.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest
import yaml

from .scan import REPO

pytestmark = pytest.mark.security

# ansible's notice for a hidden result (YAML callback output, line-wrapped).
HIDDEN = "the output has been hidden due to the fact that"
# Secret-handling preflight tasks before Flower's (rabbitmq cookie + users,
# haproxy, redis x2, celery_workers x2) and the failing Flower one: all hidden.
MIN_HIDDEN = 8
SECRET_VARS = ("celery_stack_app_password", "celery_stack_admin_password",
               "celery_stack_monitoring_password", "celery_stack_redis_password",
               "celery_stack_flower_password", "celery_stack_haproxy_stats_password")


def fake_secrets() -> dict[str, str]:
    values = {name: f"Fake{name.split('_')[2].title()}{uuid.uuid4().hex}" for name in SECRET_VARS}
    values["celery_stack_erlang_cookie"] = "FAKECOOKIE" + uuid.uuid4().hex.upper() * 2
    return values


def run_preflight(tmp: Path, extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    inv = tmp / "inventory"
    inv.mkdir()
    groups = ("rabbitmq", "haproxy", "redis", "celery_workers", "celery_beat", "flower")
    hosts = {"all": {"vars": {"ansible_connection": "local",
                              "ansible_python_interpreter": str(REPO / ".venv/bin/python")},
                     "children": {g: {"hosts": {"local": None}} for g in groups}}}
    (inv / "hosts.yml").write_text(yaml.safe_dump(hosts), encoding="utf-8")
    # The sandbox's group_vars (how the secrets flow into the roles' variables).
    (inv / "group_vars").symlink_to(REPO / "inventories/sandbox/group_vars")
    extra_file = tmp / "extra.yml"
    extra_file.write_text(yaml.safe_dump(extra), encoding="utf-8")
    extra_file.chmod(0o600)
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible/ansible.cfg"),
           "ANSIBLE_NOCOLOR": "1", "PATH": f"{REPO / '.venv/bin'}:{os.environ['PATH']}"}
    return subprocess.run(
        [str(REPO / ".venv/bin/ansible-playbook"), "-i", str(inv / "hosts.yml"),
         "ansible/site.yml", "--check", "--tags", "preflight", "-v", "-e", f"@{extra_file}"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)


def printed(values: dict[str, str], output: str) -> list[str]:
    return sorted(name for name, value in values.items() if value in output)


def test_preflight_hides_every_secret_even_when_it_fails(tmp_path: Path) -> None:
    secrets = fake_secrets()
    # Flower's checks come last: every other secret check runs (and passes) before.
    secrets["celery_stack_flower_password"] = "Qz" + uuid.uuid4().hex[:8]  # 10 < 16 characters
    proc = run_preflight(tmp_path, secrets)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output[-4000:]
    assert "TASK [flower : Check the Flower password]" in output, output[-4000:]
    assert "fatal: [local]" in output, output[-4000:]
    assert output.count(HIDDEN) >= MIN_HIDDEN, (
        f"only {output.count(HIDDEN)} hidden results: the secret checks did not run\n"
        f"{output[-3000:]}")
    assert printed(secrets, output) == [], "secret values in ansible-playbook output"
