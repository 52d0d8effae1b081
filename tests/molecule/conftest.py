"""Shared helpers for the testinfra tests Molecule runs against its hosts.

Checks of a per-host property run on one host of each group (the hosts of a
group are identical); cluster-wide queries run once. Tests are ordered by
their ``phase`` marker (default 2), so the slow watchdog check overlaps
the others: 0 smoke on the untouched platform, 1 SIGSTOP of one worker
process (the watchdog's clock starts), 2 read-only checks, 3 the watchdog's
restart collected, 4 brokers stopped behind HAProxy and restored.
"""

from __future__ import annotations

import pytest


def pytest_configure(config):
    config.addinivalue_line("markers", "phase(n): run order across modules (default 2)")


def pytest_collection_modifyitems(items):
    def phase(item) -> int:
        marker = item.get_closest_marker("phase")
        return marker.args[0] if marker else 2
    items.sort(key=phase)  # stable: file and definition order within a phase


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
