"""scripts/test_suites.py: make test's per-suite timing, stop at the first failure, cleanup."""

import importlib.util
import json
import stat
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "test_suites.py"
spec = importlib.util.spec_from_file_location("test_suites", SCRIPT)
test_suites = importlib.util.module_from_spec(spec)
spec.loader.exec_module(test_suites)


@pytest.fixture()
def fake_make(tmp_path, monkeypatch):
    """A stand-in for make: logs each target, fails the ones named in FAIL_TARGETS."""
    log = tmp_path / "calls"
    make = tmp_path / "make"
    make.write_text("#!/bin/sh\n"
                    f'echo "$3" >> {log}\n'
                    'case " $FAIL_TARGETS " in *" $3 "*) exit 2;; esac\n', encoding="utf-8")
    make.chmod(make.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("MAKE", str(make))
    return log


def test_every_suite_is_timed_in_order_and_written(tmp_path, fake_make, capsys):
    out = tmp_path / "reports" / "durations.json"
    assert test_suites.main(["--out", str(out), "lint", "unit", "e2e"]) == 0
    data = json.loads(out.read_text(encoding="utf-8"))
    assert [s["name"] for s in data["suites"]] == ["lint", "unit", "e2e"]
    assert all(s["result"] == "passed" and s["seconds"] >= 0 for s in data["suites"])
    assert data["result"] == "passed" and data["not_run"] == []
    printed = capsys.readouterr().out.splitlines()
    assert [line.split()[2] for line in printed] == ["lint", "unit", "e2e", "total"]
    assert printed[-1].endswith("all passed (0.0 min)")


def test_a_failure_stops_the_run_runs_cleanup_and_says_what_did_not_run(
        tmp_path, fake_make, monkeypatch, capsys):
    monkeypatch.setenv("FAIL_TARGETS", "e2e")
    out = tmp_path / "d.json"
    rc = test_suites.main(["--out", str(out), "--cleanup", "down", "lint", "e2e", "chaos", "down"])
    assert rc == 1
    assert fake_make.read_text(encoding="utf-8").split() == ["lint", "e2e", "down"]
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["result"] == "failed"
    assert [(s["name"], s["result"]) for s in data["suites"]] == [("lint", "passed"),
                                                                  ("e2e", "FAILED")]
    assert data["not_run"] == ["chaos", "down"]
    captured = capsys.readouterr()
    assert "FAILED" in captured.out.splitlines()[-1]
    assert "stopped at e2e; not run: chaos, down" in captured.err


def test_cleanup_is_not_run_twice_when_it_was_the_failing_suite(tmp_path, fake_make, monkeypatch):
    monkeypatch.setenv("FAIL_TARGETS", "down")
    assert test_suites.main(["--out", str(tmp_path / "d.json"), "--cleanup", "down", "down"]) == 1
    assert fake_make.read_text(encoding="utf-8").split() == ["down"]


def test_summary_aligns_names_and_gives_minutes():
    lines = test_suites.summary_lines(
        [{"name": "molecule", "seconds": 600.0, "result": "passed"},
         {"name": "e2e", "seconds": 90.5, "result": "passed"}], 690.5, True)
    assert lines == ["make test: molecule   600.0 s  passed",
                     "make test: e2e         90.5 s  passed",
                     "make test: total      690.5 s  all passed (11.5 min)"]


@pytest.fixture()
def lane_make(tmp_path, monkeypatch):
    """A make whose target `wait` succeeds only once target `mark` has run (5 s at most)."""
    log, mark = tmp_path / "calls", tmp_path / "mark"
    make = tmp_path / "make"
    make.write_text("#!/bin/sh\n"
                    f'echo "$3" >> {log}\n'
                    f'echo "output of $3"\n'
                    'case " $FAIL_TARGETS " in *" $3 "*) exit 2;; esac\n'
                    f'[ "$3" = mark ] && touch {mark}\n'
                    'if [ "$3" = wait ]; then i=0; '
                    f'while [ ! -e {mark} ]; do i=$((i+1)); [ $i -gt 50 ] && exit 3; '
                    'sleep 0.1; done; fi\n'
                    'exit 0\n', encoding="utf-8")
    make.chmod(make.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("MAKE", str(make))
    return log


def test_lanes_of_a_group_run_at_once_and_each_suite_is_timed(tmp_path, lane_make, capsys):
    # `wait` ends only after `mark`, which its lane's neighbour runs: sequentially it fails.
    out = tmp_path / "d.json"
    assert test_suites.main(["--out", str(out), "first", "wait+unit,mark", "last"]) == 0
    data = json.loads(out.read_text(encoding="utf-8"))
    rows = [(s["name"], s["result"], s.get("beside")) for s in data["suites"]]
    assert rows == [("first", "passed", None), ("wait", "passed", "unit,mark"),
                    ("unit", "passed", "wait"), ("mark", "passed", "wait"),
                    ("last", "passed", None)]
    printed = capsys.readouterr().out
    # A group suite's output is printed whole after a header naming it.
    assert "== make test: unit (" in printed and "output of unit" in printed
    assert "make test: wait " in printed and "(beside unit,mark)" in printed


def test_a_failing_lane_stops_there_the_group_ends_and_later_suites_do_not_run(
        tmp_path, lane_make, monkeypatch, capsys):
    monkeypatch.setenv("FAIL_TARGETS", "unit")
    out = tmp_path / "d.json"
    rc = test_suites.main(["--out", str(out), "--cleanup", "down",
                           "mark+unit,lint", "e2e", "down"])
    assert rc == 1
    calls = lane_make.read_text(encoding="utf-8").split()
    assert sorted(calls[:2]) == ["mark", "unit"] and calls[2:] == ["down"]
    data = json.loads(out.read_text(encoding="utf-8"))
    assert [(s["name"], s["result"]) for s in data["suites"]] == [("mark", "passed"),
                                                                  ("unit", "FAILED")]
    assert data["not_run"] == ["lint", "e2e", "down"]
    assert "stopped at unit; not run: lint, e2e, down" in capsys.readouterr().err


def test_a_failed_group_suite_names_its_failed_tests_again_just_before_the_summary(
        tmp_path, monkeypatch, capsys):
    # CI logs often keep only the tail: the failed test lines must be there, after every output.
    make = tmp_path / "make"
    make.write_text("#!/bin/sh\n"
                    'if [ "$3" = sec ]; then printf "\\033[31m\\342\\224\\202\\033[0m '
                    'FAILED tests/s.py::test_x - assert 1\\n"; '
                    # molecule's box cuts a long one after FAILED and mid-id
                    'printf "  \\342\\224\\202 FAILED\\n  \\342\\224\\202   ../t/a.py::test_lo\\n'
                    '  \\342\\224\\202   ng[h]\\n  \\342\\224\\202 ===== 1 failed\\n"; '
                    'i=0; while [ $i -lt 30 ]; do echo "noise $i"; i=$((i+1)); done; exit 1; fi\n'
                    'echo "output of $3"\n', encoding="utf-8")
    make.chmod(make.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("MAKE", str(make))
    assert test_suites.main(["--out", str(tmp_path / "d.json"), "lint+sec"]) == 1
    printed = capsys.readouterr().out.splitlines()
    start = printed.index("== make test: sec FAILED; its failed tests:")
    assert printed[start + 1] == "FAILED tests/s.py::test_x - assert 1"
    assert printed[start + 2] == "FAILED ../t/a.py::test_long[h]"
    assert printed[start + 4:start + 4 + test_suites.TAIL_LINES] == [
        f"noise {i}" for i in range(30 - test_suites.TAIL_LINES, 30)]
    assert printed[start + 4 + test_suites.TAIL_LINES].startswith("make test: lint ")


def test_lanes_split_on_plus_and_comma():
    assert test_suites.lanes("molecule+lint,unit") == [["molecule"], ["lint", "unit"]]
    assert test_suites.lanes("e2e") == [["e2e"]]


def test_the_first_lane_can_wait_until_every_other_lane_has_ended(tmp_path, monkeypatch):
    # `alone` waits for the file the runner creates when the other lanes are done,
    # then fails unless `slow` (the other lane, 0.3 s) had already finished.
    finished = tmp_path / "slow-finished"
    make = tmp_path / "make"
    make.write_text("#!/bin/sh\n"
                    f'[ "$3" = slow ] && {{ sleep 0.3; touch {finished}; exit 0; }}\n'
                    'i=0; while [ ! -e "$CELERY_STACK_SUITES_BESIDE_DONE" ]; do '
                    'i=$((i+1)); [ $i -gt 50 ] && exit 3; sleep 0.1; done\n'
                    f'[ -e {finished} ] || exit 4\n', encoding="utf-8")
    make.chmod(make.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("MAKE", str(make))
    out = tmp_path / "d.json"
    assert test_suites.main(["--out", str(out), "alone+slow"]) == 0
    assert [s["result"] for s in json.loads(out.read_text(encoding="utf-8"))["suites"]] == [
        "passed", "passed"]
