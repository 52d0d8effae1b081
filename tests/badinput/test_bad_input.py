"""Bad input to `make up` is refused naming the field, and nothing changes.

Acceptance (issue 5, bad input; issue 10 trimmed it): every case of cases.yml
is checked against its validator in the unit tests
(tests/unit/test_badinput_cases.py and the `unit:` tests it names). Here,
ONE case per layer (topology, compose variables, secret files; `make_up:
true`) runs the real `make up`: it must fail with a message naming the field,
before any docker command that changes something, and the project's
containers, volumes, networks, generated files and secrets are unchanged.
A positive control shows each of those detectors reporting a real change.
The Ansible inventory cases of the same table run in `make negative`.
Run: make bad-input.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest

from celery_stack import envcheck
from celery_stack import secrets as secret_files
from celery_stack.testing.compose import REPO

from . import cases as T
from .conftest import PROJECT, Harness, detected_changes, docker, snapshot

pytestmark = pytest.mark.bad_input


def watched(*extra: Path) -> tuple[Path, ...]:
    return (REPO / "compose" / "generated", REPO / "secrets", *extra)


def assert_refused_and_unchanged(case: dict, run, extra: tuple[Path, ...]) -> str:
    before = snapshot(PROJECT, *watched(*extra))
    outcome = run()
    after = snapshot(PROJECT, *watched(*extra))
    shown = f"exit {outcome.returncode}\n{outcome.output[-3000:]}"
    assert outcome.returncode != 0, f"{case['id']}: make up accepted it\n{shown}"
    assert case["field"] in outcome.output, f"{case['id']}: {case['field']!r} not named\n{shown}"
    assert case["expect"] in outcome.output, f"{case['id']}: {case['expect']!r} missing\n{shown}"
    # The recording docker saw bootstrap's probes: proof it was on make's PATH.
    assert outcome.docker_calls, "the recording docker was not used"
    changes = detected_changes(before, after, outcome.docker_calls)
    assert not changes, f"{case['id']}: {changes}"
    if os.environ.get("CELERY_STACK_TEST_REUSE") == "1":
        # In make test: the shared stack is the one that must stay untouched.
        assert before[0]["containers"], f"no running project {PROJECT} to prove it on"
    return outcome.output


def test_good_input_passes_the_preflight(harness: Harness, shared_secrets: Path) -> None:
    """Control: with nothing wrong the same harness passes, so each failure is its mistake."""
    outcome = harness.make("preflight", secrets_dir=shared_secrets)
    assert outcome.returncode == 0, outcome.output
    assert "check-env" not in outcome.output, outcome.output


@pytest.mark.parametrize("case", T.make_up_cases("topology"), ids=lambda c: c["id"])
def test_bad_topology(case: dict, harness: Harness, shared_secrets: Path, tmp_path: Path,
                      ) -> None:
    topology = T.bad_topology(case, tmp_path)
    assert_refused_and_unchanged(
        case, lambda: harness.make("up", topology, shared_secrets), (topology,))


@pytest.mark.parametrize("case", T.make_up_cases("env"), ids=lambda c: c["id"])
def test_bad_compose_env(case: dict, harness: Harness, shared_secrets: Path) -> None:
    """The host-port case: a port another process holds; the stack's own ones pass."""
    with T.held_port() as port:
        output = assert_refused_and_unchanged(
            case, lambda: harness.make("up", None, shared_secrets, case["set"],
                                       {T.TAKEN: str(port)}), ())
    own = {name: int(value) for name, value in harness.ports.items()
           if name not in case["set"] and
           any(p == PROJECT for p, _ in envcheck.publishing_containers(int(value)))}
    if os.environ.get("CELERY_STACK_TEST_REUSE") == "1":
        # The shared stack's HAProxy and Flower hold the other three test ports.
        assert set(own) == set(envcheck.PORTS) - set(case["set"]), own
    for name in own:
        assert f"{name}:" not in output, f"{name} is held by {PROJECT} itself:\n{output}"


@pytest.mark.parametrize("case", T.make_up_cases("secrets"), ids=lambda c: c["id"])
def test_bad_secret_file(case: dict, harness: Harness, tmp_path: Path) -> None:
    directory = T.bad_secrets(case, tmp_path / "secrets")
    assert_refused_and_unchanged(
        case, lambda: harness.make("up", None, directory), (directory,))


# Restarted through the recording docker in the positive control (a local image:
# bootstrap builds it, as `make up` needs it anyway).
CONTROL_IMAGE = "debian:trixie-slim"


def test_the_detectors_catch_a_change(harness: Harness, tmp_path: Path) -> None:
    """Positive control: each "nothing changed" detector reports a change that happened.

    In a project of its own (never the shared stack): a file make regenerates,
    and a container restarted through the recording docker.
    """
    control = f"celery-stack-badinput-control-{uuid.uuid4().hex[:8]}"
    directory = tmp_path / "secrets"
    secret_files.ensure(directory)
    (directory / "flower_password").unlink()
    before = snapshot(control, directory)
    outcome = harness.make("secrets", secrets_dir=directory)
    assert outcome.returncode == 0, outcome.output
    found = detected_changes(before, snapshot(control, directory), outcome.docker_calls)
    assert len(found) == 1 and found[0].startswith("files changed"), found
    assert str(directory / "flower_password") in found[0], found

    cid = docker("run", "-d", "--label", f"com.docker.compose.project={control}",
                 "--name", control, CONTROL_IMAGE, "sleep", "300").strip()
    try:
        before = snapshot(control, directory)
        harness.calls.write_text("", encoding="utf-8")
        subprocess.run([str(harness.bin / "docker"), "restart", "-t", "0", cid], env=harness.env,
                       capture_output=True, text=True, timeout=60, check=True)
        calls = harness.calls.read_text(encoding="utf-8").splitlines()
        found = detected_changes(before, snapshot(control, directory), calls)
    finally:
        docker("rm", "-f", cid)
    assert [f.split(":")[0] for f in found] == ["docker commands that change things",
                                                 "project containers changed"], found
