"""The benchmark report: figures, ratios, goals, table and shape (pure logic)."""

import copy

import pytest

from celery_stack.bench import report


def hol_run(latencies):
    return {"reps": [{"latencies_ms": list(latencies)}] * 3}


def tp_run(rate):
    return {"reps": [{"n": 100, "tasks_per_s": rate, "publish_per_s": rate * 2}] * 3}


def storm_run(idle, peak):
    samples = [{"t": 0, "phase": "idle", "mem_bytes": idle * report.MIB, "event_queue_messages": 0},
               {"t": 10, "phase": "attached", "mem_bytes": idle * report.MIB,
                "event_queue_messages": 0},
               {"t": 20, "phase": "detached", "mem_bytes": peak * report.MIB,
                "event_queue_messages": 42}]
    return {"rate": 25, "sent": 100, "detach_at": 10, "seconds": 30, "samples": samples}


def idle_run(rate):
    return {"reps": [{"messages_per_s": rate, "received_per_s": rate / 2,
                      "delivered_per_s": rate / 2}] * 3, "workers": 3}


MEASURED = {
    "hol": {"A": hol_run([10, 20, 30]), "C": hol_run([1000, 5000, 9000])},
    "throughput": {"A": tp_run(90.0), "B": tp_run(100.0), "C": tp_run(60.0)},
    "memory": {"A": storm_run(100, 110), "C": storm_run(100, 300)},
    "overhead": {"A": idle_run(1.0), "C": idle_run(2.0)},
    "ops": {"make_up_cold_s": [50.0], "make_up_warm_s": [3.0, 4.0, 5.0], "ansible": None,
            "make_test": None},
}
META = {"mode": "quick", "command": "make bench QUICK=1", "date": "2026-11-21 10:00 UTC",
        "machine": {"nproc": 2, "mem_total_gib": 23.5, "kernel": "6.1", "loadavg_start": [1, 2, 3]},
        "budget": "1.5 CPUs", "duration_s": 120.0, "repetitions": 3, "notes": ["a note"]}


def built():
    return report.build(copy.deepcopy(MEASURED), copy.deepcopy(META))


def goals_by_text(rep):
    return {g["text"]: g for g in rep["goals"]}


def test_ratios_and_goals_follow_the_measurements():
    rep = built()
    goals = goals_by_text(rep)
    # p99 of [10, 20, 30] = 29.8; of [1000, 5000, 9000] = 8920.
    assert rep["figures"]["hol"]["ratios"]["A/C p99"] == pytest.approx(29.8 / 8920)
    assert goals["A p99 <= C p99 / 10"]["met"] is True
    assert rep["figures"]["throughput"]["ratios"] == {"A/B": pytest.approx(0.9),
                                                      "A/C": pytest.approx(1.5)}
    assert goals["A >= 0.8 x B"]["met"] is True and goals["A >= C"]["met"] is True
    assert rep["figures"]["memory"]["ratios"]["A peak/idle"] == pytest.approx(1.1)
    assert rep["figures"]["memory"]["ratios"]["C peak/idle"] == pytest.approx(3.0)
    assert goals["A <= C / 5"]["met"] is False  # 1.0 / 2.0 = 0.5 > 0.2
    assert goals["A <= C / 5"]["note"], "a missed goal must say why"


def test_a_missed_throughput_goal_is_reported_with_a_reason():
    measured = copy.deepcopy(MEASURED)
    measured["throughput"]["A"] = tp_run(50.0)
    rep = report.build(measured, copy.deepcopy(META))
    goal = goals_by_text(rep)["A >= 0.8 x B"]
    assert goal["met"] is False and goal["value"] == pytest.approx(0.5)
    assert "MISSED" in report.markdown(rep)


def test_ops_files_missing_are_reported_as_not_measured():
    ops = built()["figures"]["ops"]["setups"]["A"]
    assert ops["ansible"] == "not measured in this run"
    assert ops["make_test"] == "not measured"
    assert ops["make_up_warm_s"]["median"] == 4.0


def test_markdown_has_one_row_per_figure_line_and_the_machine():
    text = report.markdown(built())
    rows = [ln for ln in text.splitlines() if ln.startswith("| ")]
    assert len(rows) == 1 + 2 + 2 + 3 + 1 + 3  # header + hol 2 + tp 2 + memory 3 + idle + ops 3
    assert "2 CPUs" in text and "23.5 GiB" in text and "make bench QUICK=1" in text
    assert "| 2. no-op throughput (tasks/s) | 90.0 (90.0-90.0) | 100.0 (100.0-100.0) |" in text


def test_shape_of_a_complete_report_is_clean():
    assert report.shape_errors(built()) == []


def test_shape_names_what_is_missing():
    rep = built()
    del rep["figures"]["throughput"]["setups"]["B"]
    del rep["machine"]["kernel"]
    rep["goals"][0]["note"] = ""
    rep["goals"][0]["met"] = False
    errors = report.shape_errors(rep)
    assert any("figures.throughput.setups" in e and "'B'" in e for e in errors)
    assert "machine.kernel: missing" in errors
    assert any("missed without a reason" in e for e in errors)


def test_ansible_timings_written_by_make_demo_are_shown():
    measured = copy.deepcopy(MEASURED)
    measured["ops"]["ansible"] = {"site_yml_first_s": 244.7, "site_yml_second_s": 31.9,
                                  "changed_first": 40, "changed_second": 0,
                                  "date": "2026-11-21T10:22:51+00:00", "command": "x"}
    text = report.markdown(report.build(measured, copy.deepcopy(META)))
    assert "245 s (changed=40) / 32 s (changed=0), make demo 2026-11-21T10:22:51+00:00" in text
