"""Chaos report: pass/fail rules and the Markdown / JSON renderings."""

from __future__ import annotations

import json

from celery_stack.chaos.report import Result, Run, failures, to_json, to_markdown


def result(number: int = 1, lost: int = 0, ok: bool = True) -> Result:
    r = Result(number, "Broker node killed under load",
               counts={"sent": 10, "executed": 10 - lost, "duplicated": 2, "lost": lost,
                       "extra_runs": 2, "unconfirmed_executed": 0},
               recovery={"node_back": 12.345, "publishing_resumed": 3.0},
               facts={"victim": "rabbit3"})
    r.check("node rejoined", ok, "3 running")
    return r


def test_result_passes_only_with_checks_all_ok_and_nothing_lost() -> None:
    assert result().passed
    assert not result(lost=1).passed
    assert not result(ok=False).passed
    errored = result()
    errored.error = "Traceback ..."
    assert not errored.passed
    assert not Result(2, "no checks at all").passed


def test_run_fails_if_any_scenario_fails_or_none_ran() -> None:
    assert Run("quick", "p", "t", [result(), result(2)]).passed
    assert not Run("quick", "p", "t", [result(), result(2, lost=3)]).passed
    assert not Run("quick", "p", "t", []).passed


def test_markdown_has_one_row_per_scenario_and_the_checks() -> None:
    run = Run("full", "celery-stack-chaos", "2026-01-01T00:00:00+00:00",
              [result(), result(7, ok=False)], seconds=61.0)
    md = to_markdown(run)
    assert md.startswith("# Chaos report (full): FAILED")
    assert "| 1 | Broker node killed under load | pass | 10 | 10 | 2 | 0 | node back 12.3 s; " \
           "publishing resumed 3.0 s |" in md
    assert "| 7 | Broker node killed under load | FAIL |" in md
    assert "- [x] node rejoined (3 running)" in md
    assert "- [ ] node rejoined (3 running)" in md
    assert "- victim: rabbit3" in md
    assert "extra runs: 2, unconfirmed executed: 0" in md
    assert "wall time 61.0 s" in md


def test_markdown_shows_the_error_of_a_crashed_scenario() -> None:
    r = Result(4, "Redis restart keeps stored results", error="AssertionError: redis down\n")
    md = to_markdown(Run("full", "p", "t", [r]))
    assert "| 4 | Redis restart keeps stored results | FAIL | - | - | - | - | - |" in md
    assert "```\nAssertionError: redis down\n```" in md


def test_json_carries_counts_recovery_and_verdicts() -> None:
    data = json.loads(to_json(Run("quick", "p", "t", [result(), result(3, lost=1)], 10.04)))
    assert data["passed"] is False
    assert data["seconds"] == 10.0
    first, second = data["scenarios"]
    assert first["passed"] is True and second["passed"] is False
    assert first["counts"]["duplicated"] == 2
    assert first["recovery"] == {"node_back": 12.3, "publishing_resumed": 3.0}
    assert first["checks"] == [{"what": "node rejoined", "ok": True, "detail": "3 running"}]


def test_failures_name_each_failed_check_lost_count_and_crash() -> None:
    crashed = Result(4, "Redis restart keeps stored results",
                     error="Traceback (most recent call last):\n  ...\nTimeoutError: redis\n")
    run = Run("quick", "p", "t", [result(), result(7, lost=2, ok=False), crashed])
    assert failures(run) == [
        "scenario 7 (Broker node killed under load): 2 task(s) lost",
        "scenario 7 (Broker node killed under load): check failed: node rejoined (3 running)",
        "scenario 4 (Redis restart keeps stored results): crashed: TimeoutError: redis",
    ]
    assert failures(Run("quick", "p", "t", [result()])) == []
