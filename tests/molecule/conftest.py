"""Shared helpers for the testinfra tests Molecule runs against its hosts."""

import os

import pytest
import testinfra.utils.ansible_runner

RUNNER = testinfra.utils.ansible_runner.AnsibleRunner(os.environ["MOLECULE_INVENTORY_FILE"])


def hosts(group: str) -> list[str]:
    """Inventory hosts of ``group`` (as testinfra host specs)."""
    return [f"ansible://{h}?ansible_inventory={os.environ['MOLECULE_INVENTORY_FILE']}"
            for h in RUNNER.get_hosts(group)]


@pytest.fixture(autouse=True)
def _journal_on_failure(request, host):
    """Print the host's recent journal when a test fails, then re-raise."""
    yield
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        print(host.run("journalctl -n 80 --no-pager").stdout)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    setattr(item, f"rep_{call.when}", outcome.get_result())
