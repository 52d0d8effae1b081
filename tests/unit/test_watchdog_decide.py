"""The watchdog's pure rules: every branch of ``decide`` and counter tracking."""

from __future__ import annotations

from dataclasses import replace

import pytest

from celery_stack.topology.model import Fleet
from celery_stack.watchdog import decide as d

NOW = 1_000_000.0
PREFORK = Fleet(name="bulk", queues=("bulk",), pool="prefork", time_limit=300)
SOLO = Fleet(name="solo", queues=("bulk",), pool="solo", time_limit=300)
OPTS = d.Options()  # grace 60, unresponsive 120, stalled 600, 3 restarts / 1800 s


def obs(**kw) -> d.Observation:
    base = dict(state="RUNNING", uptime=3600.0, answered_ping=True, processed=10, active=0,
                ready={"bulk": 0}, peers_progressed=False)
    return d.Observation(**{**base, **kw})


def stalled_history(stalled_for: float = 700.0, processed: int = 10) -> d.History:
    # Counter stuck at ``processed`` since ``stalled_for`` seconds ago; started long before.
    return d.History(progress=d.Progress(processed, NOW - stalled_for, NOW - 3600.0))


def test_healthy_process_is_ok_and_clears_silence():
    history = d.History(unresponsive_since=NOW - 60)
    decision, new = d.decide(obs(), PREFORK, history, NOW, OPTS)
    assert decision.action == d.OK
    assert new.unresponsive_since is None


def test_process_within_startup_grace_is_skipped():
    decision, new = d.decide(obs(uptime=30, answered_ping=False), PREFORK,
                             d.History(unresponsive_since=NOW - 500), NOW, OPTS)
    assert (decision.action, decision.reason.split(" ")[0]) == (d.SKIP, "starting")
    assert new.unresponsive_since is None


@pytest.mark.parametrize("state", ["STARTING", "BACKOFF", "STOPPED", "FATAL", "EXITED"])
def test_not_running_is_left_to_supervisor(state):
    decision, _ = d.decide(obs(state=state, answered_ping=False), PREFORK,
                           d.History(unresponsive_since=NOW - 9999), NOW, OPTS)
    assert decision.action == d.SKIP
    assert state in decision.reason


def test_first_missed_ping_starts_the_clock_and_waits():
    decision, new = d.decide(obs(answered_ping=False), PREFORK, d.History(), NOW, OPTS)
    assert decision.action == d.OK
    assert "waiting" in decision.reason
    assert new.unresponsive_since == NOW


def test_unresponsive_below_threshold_waits():
    history = d.History(unresponsive_since=NOW - 110)
    decision, new = d.decide(obs(answered_ping=False), PREFORK, history, NOW, OPTS)
    assert decision.action == d.OK
    assert new.unresponsive_since == NOW - 110  # the clock is not restarted


def test_a_pass_that_starts_a_little_late_still_restarts_at_the_threshold():
    # Cron passes 60 s apart whose clock reads drift by 0.2 s: first miss at
    # 0.2, the pass two minutes later reads 120.0, i.e. 119.8 s of silence.
    history = d.History(unresponsive_since=NOW - 119.8)
    decision, _ = d.decide(obs(answered_ping=False), PREFORK, history, NOW, OPTS)
    assert decision.action == d.RESTART
    # Well short of the threshold (one pass early) still waits.
    history = d.History(unresponsive_since=NOW - 60.2)
    decision, _ = d.decide(obs(answered_ping=False), PREFORK, history, NOW, OPTS)
    assert decision.action == d.OK


def test_unresponsive_at_threshold_restarts():
    history = d.History(unresponsive_since=NOW - 130)
    decision, _ = d.decide(obs(answered_ping=False), PREFORK, history, NOW, OPTS)
    assert decision.action == d.RESTART
    assert decision.reason == "no ping reply for 130 s (threshold 120 s)"


def test_unresponsive_after_zero_restarts_on_first_miss():
    decision, _ = d.decide(obs(answered_ping=False), PREFORK, d.History(), NOW,
                           replace(OPTS, unresponsive_after=0))
    assert decision.action == d.RESTART


def test_solo_pool_busy_within_time_limit_is_not_restarted():
    # Solo runs the task in the main process: silent while busy, up to time_limit.
    history = d.History(unresponsive_since=NOW - 200)
    decision, _ = d.decide(obs(answered_ping=False), SOLO, history, NOW,
                           replace(OPTS, unresponsive_after=0))
    assert decision.action == d.OK
    assert "threshold 330 s" in decision.reason


def test_solo_pool_silent_beyond_time_limit_is_restarted():
    history = d.History(unresponsive_since=NOW - 331)
    decision, _ = d.decide(obs(answered_ping=False), SOLO, history, NOW, OPTS)
    assert decision.action == d.RESTART


def test_unresponsive_threshold_keeps_larger_option_for_solo():
    assert d.unresponsive_threshold(SOLO, replace(OPTS, unresponsive_after=900)) == 900
    assert d.unresponsive_threshold(PREFORK, OPTS) == 120


def test_process_restarted_since_silence_began_starts_a_new_clock():
    # Supervisor restarted it 100 s ago; the silence recorded before does not count.
    history = d.History(unresponsive_since=NOW - 500)
    decision, new = d.decide(obs(answered_ping=False, uptime=100), PREFORK, history, NOW, OPTS)
    assert decision.action == d.OK
    assert new.unresponsive_since == NOW


def test_stalled_with_ready_messages_and_progressing_peers_is_restarted():
    decision, _ = d.decide(obs(ready={"bulk": 5}, peers_progressed=True), PREFORK,
                           stalled_history(), NOW, OPTS)
    assert decision.action == d.RESTART
    assert "processed nothing for 700 s" in decision.reason
    assert "5 message(s) wait" in decision.reason


def test_stalled_but_running_tasks_is_busy_not_hung():
    decision, _ = d.decide(obs(ready={"bulk": 5}, peers_progressed=True, active=1), PREFORK,
                           stalled_history(), NOW, OPTS)
    assert decision.action == d.OK
    assert "busy" in decision.reason


def test_stalled_with_unknown_active_tasks_is_not_restarted():
    decision, _ = d.decide(obs(ready={"bulk": 5}, peers_progressed=True, active=None), PREFORK,
                           stalled_history(), NOW, OPTS)
    assert decision.action == d.OK


def test_stalled_but_queue_empty_is_ok():
    decision, _ = d.decide(obs(ready={"bulk": 0}, peers_progressed=True), PREFORK,
                           stalled_history(), NOW, OPTS)
    assert decision.action == d.OK
    assert "no ready messages" in decision.reason


def test_stalled_with_unknown_queue_count_is_ok():
    decision, _ = d.decide(obs(ready={}, peers_progressed=True), PREFORK,
                           stalled_history(), NOW, OPTS)
    assert decision.action == d.OK


def test_stalled_but_no_peer_progressed_is_ok():
    decision, _ = d.decide(obs(ready={"bulk": 5}, peers_progressed=False), PREFORK,
                           stalled_history(), NOW, OPTS)
    assert decision.action == d.OK
    assert "peers did not progress" in decision.reason


def test_stalled_for_less_than_threshold_is_ok():
    decision, _ = d.decide(obs(ready={"bulk": 5}, peers_progressed=True), PREFORK,
                           stalled_history(stalled_for=599), NOW, OPTS)
    assert decision.action == d.OK


def test_counter_moved_is_progress_not_stall():
    decision, new = d.decide(obs(processed=11, ready={"bulk": 5}, peers_progressed=True),
                             PREFORK, stalled_history(), NOW, OPTS)
    assert decision.action == d.OK
    assert new.progress == d.Progress(11, NOW, NOW - 3600.0, progressed_at=NOW)


def test_unknown_progress_never_stalls():
    decision, _ = d.decide(obs(processed=None, ready={"bulk": 5}, peers_progressed=True),
                           PREFORK, d.History(), NOW, OPTS)
    assert decision.action == d.OK


def test_backoff_after_max_restarts_in_window():
    history = d.History(unresponsive_since=NOW - 300,
                        restarts=(NOW - 1000, NOW - 500, NOW - 100))
    decision, new = d.decide(obs(answered_ping=False), PREFORK, history, NOW, OPTS)
    assert decision.action == d.BACKOFF
    assert "no ping reply" in decision.reason and "backing off" in decision.reason
    assert new.restarts == history.restarts


def test_restarts_outside_window_expire_and_allow_a_restart():
    history = d.History(unresponsive_since=NOW - 300,
                        restarts=(NOW - 1900, NOW - 1850, NOW - 100))
    decision, new = d.decide(obs(answered_ping=False), PREFORK, history, NOW, OPTS)
    assert decision.action == d.RESTART
    assert new.restarts == (NOW - 100,)  # expired entries are dropped


def test_restarted_records_the_restart_and_resets_observation():
    history = d.History(unresponsive_since=NOW - 300, progress=stalled_history().progress,
                        restarts=(NOW - 100,))
    assert d.restarted(history, NOW) == d.History(None, None, (NOW - 100, NOW))


def test_three_watchdog_restarts_then_backoff():
    history = d.History()
    actions = []
    for minute in range(12):
        now = NOW + minute * 200  # each observation is past the startup grace
        decision, history = d.decide(obs(answered_ping=False, uptime=180), PREFORK, history,
                                     now, replace(OPTS, unresponsive_after=0))
        actions.append(decision.action)
        if decision.action == d.RESTART:
            history = d.restarted(history, now)
    assert actions[:3] == [d.RESTART] * 3
    assert actions[3:9] == [d.BACKOFF] * 6
    # 1800 s after the first restart, the window has room again.
    assert actions[9] == d.RESTART


def test_track_first_reading_is_a_baseline_not_progress():
    p = d.track(None, 7, NOW - 100, NOW)
    assert p == d.Progress(7, NOW, NOW - 100, None)
    # A counter of zero has not moved since the node started.
    assert d.track(None, 0, NOW - 100, NOW).since == NOW - 100


def test_track_is_idempotent_for_the_same_reading():
    p = d.track(None, 7, NOW - 100, NOW - 60)
    moved = d.track(p, 9, NOW - 100, NOW)
    assert moved == d.track(moved, 9, NOW - 100, NOW)
    assert moved.progressed_at == NOW


def test_track_detects_restart_and_rebaselines():
    p = d.Progress(50, NOW - 300, NOW - 3600, progressed_at=NOW - 300)
    after = d.track(p, 3, NOW - 40, NOW)
    assert after.progressed_at is None and after.started == NOW - 40
    assert d.track(p, None, NOW - 40, NOW) is p


def test_peers_progressed_only_counts_moves_after_own_last_move():
    me = d.Progress(10, NOW - 700, NOW - 3600)
    early = d.Progress(5, NOW - 800, NOW - 3600, progressed_at=NOW - 800)
    late = d.Progress(6, NOW - 60, NOW - 3600, progressed_at=NOW - 60)
    baseline = d.Progress(6, NOW - 60, NOW - 3600)
    assert not d.peers_progressed(me, [early, baseline, None])
    assert d.peers_progressed(me, [early, late])
    assert not d.peers_progressed(None, [late])
