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


def idle_run(rate, seconds=60.0, period=60.0):
    """Two windows of one watchdog period each: the full method's idle measurement."""
    return {"reps": [{"seconds": seconds, "messages_per_s": rate, "received_per_s": rate / 2,
                      "delivered_per_s": rate / 2}] * 2, "workers": 3,
            "watchdog_period_s": period}


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


# --- what `make bench QUICK=1` checked on a live run, now on a rendered report ---------
PNG = b"\x89PNG\r\n\x1a\n"
FIGURE_FILES = ("fig1-head-of-line", "fig2-throughput", "fig3-broker-memory",
                "fig4-idle-overhead", "fig5-ops")


def quick_built():
    """A QUICK report: A and C only (B is not brought up), one repetition."""
    measured = copy.deepcopy(MEASURED)
    del measured["throughput"]["B"]
    meta = {**copy.deepcopy(META), "repetitions": 1, "setups": ["A", "C"]}
    return report.build(measured, meta)


def test_every_figure_has_a_value_for_every_setup_it_compares():
    fig = built()["figures"]
    for setup in ("A", "C"):
        assert fig["hol"]["setups"][setup]["p99_ms"]["median"] > 0, setup
        assert fig["memory"]["setups"][setup]["idle_mib"]["median"] == 100.0, setup
        assert fig["overhead"]["setups"][setup]["messages_per_s"]["mean"] > 0, setup
    for setup in ("A", "B", "C"):
        assert fig["throughput"]["setups"][setup]["tasks_per_s"]["median"] > 0, setup
    assert set(fig["throughput"]["ratios"]) == {"A/B", "A/C"}


def test_five_distinct_goals_each_judged_or_said_why_not():
    rep = built()
    texts = [g["text"] for g in rep["goals"]]
    assert len(texts) == 5 and len(set(texts)) == 5
    for goal in rep["goals"]:
        assert goal["met"] in (True, False, None), goal
        if goal["met"] is not True:
            assert goal["note"], goal


def test_a_quick_report_without_b_is_complete_and_says_b_was_not_measured():
    rep = quick_built()
    assert report.shape_errors(rep) == []
    goal = goals_by_text(rep)["A >= 0.8 x B"]
    assert goal["met"] is None and goal["note"] == "not measured in this run"
    assert "| 2. no-op throughput (tasks/s) | 90.0 (90.0-90.0) | n/a |" in report.markdown(rep)


def test_a_full_report_without_b_is_not_complete():
    rep = quick_built()
    del rep["setups"]
    assert any("figures.throughput.setups" in e for e in report.shape_errors(rep))


def test_one_chart_per_figure_is_written(tmp_path):
    from celery_stack.bench import charts
    paths = charts.write(quick_built(), tmp_path)
    assert sorted(p.stem for p in paths) == sorted(FIGURE_FILES)
    for path in paths:
        data = path.read_bytes()
        # A real chart, not an empty canvas: axes, bars and labels take > 5 kB.
        assert data.startswith(PNG) and len(data) > 5000, path.name


# --- figure 4: the mean over a window of at least two watchdog periods ----------------
def overhead_of(a_reps, c_reps, period=60.0):
    def run(reps):
        return {"reps": [{"seconds": s, "messages_per_s": r, "received_per_s": r,
                          "delivered_per_s": 0.0} for s, r in reps],
                "workers": 3, "watchdog_period_s": period}
    return report.overhead({"A": run(a_reps), "C": run(c_reps)})


def test_figure_4_is_the_mean_over_the_window_not_a_median_of_windows():
    # The review's case: A's 20-s windows [1.39, 4.08, 1.39], one holding the
    # watchdog's pass; C steady at 6. Median 1.39 would give A/C 0.23.
    fig = overhead_of([(20, 1.39), (20, 4.08), (20, 1.39)], [(60, 6.0)], period=30.0)
    assert fig["setups"]["A"]["messages_per_s"]["mean"] == pytest.approx((1.39 * 2 + 4.08) / 3)
    assert fig["ratios"]["A/C"] == pytest.approx((1.39 * 2 + 4.08) / 3 / 6.0)
    assert fig["window_s"] == 60 and fig["watchdog_period_s"] == 30.0
    (goal,) = fig["goals"]
    assert goal["met"] is False  # 0.38 > 0.2, judged: the window holds 2 periods


def test_figure_4_is_not_judged_on_a_window_shorter_than_two_watchdog_periods():
    # 119 s < 2 x 60 s: one watchdog pass may be all the window holds.
    fig = overhead_of([(59.5, 1.0), (59.5, 1.0)], [(119, 10.0)])
    (goal,) = fig["goals"]
    assert goal["met"] is None and "shorter than 2 watchdog periods (2 x 60.0 s)" in goal["note"]
    assert fig["ratios"]["A/C"] == pytest.approx(0.1)


def test_figure_4_row_names_the_window_and_the_watchdog_period():
    text = report.markdown(built())
    assert ("| 4. idle non-task messages/s (3 workers, mean over 120 s, watchdog every "
            "60.0 s) | 1.0 (1.0-1.0) | - | 2.0 (2.0-2.0) | A/C 0.50 |") in text
