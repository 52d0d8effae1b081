"""The chaos suite's checks and bounds (pure), and the delivery-tag guard."""

from __future__ import annotations

from pathlib import Path

import pytest

from celery_stack.chaos import checks, ledger
from celery_stack.chaos.hung import compared
from celery_stack.chaos.network import partition_stall_bound
from celery_stack.chaos.redis_kill import recovered_at

HAPROXY_CFG = Path(__file__).resolve().parents[2] / "compose/images/haproxy/haproxy.cfg"


def test_volume_needs_95_percent_of_the_plan():
    assert checks.volume_ok(950, 1000)
    assert not checks.volume_ok(949, 1000)
    assert not checks.volume_ok(0, 0)  # nothing planned proves nothing


def test_paced_publisher_plans_what_its_rate_allowed():
    pub = ledger.Publisher(None, "r", [("default", 0.0)] * 1000, rate=10.0)  # type: ignore[arg-type]
    pub.started_at, pub.finished_at = 100.0, 130.0
    assert pub.planned() == 300
    pub.rate = None
    assert pub.planned() == 1000


def test_publish_errors_must_fall_in_the_fault_window():
    errors = [(10.0, "a"), (15.0, "b"), (40.0, "late")]
    assert checks.errors_outside(errors, (9.0, 20.0)) == [
        "late at +31.0 s from the fault's start (window 0 to 11.0 s)"]
    assert checks.errors_outside([(8.5, "early")], (9.0, 20.0)) == [
        "early at -0.5 s from the fault's start (window 0 to 11.0 s)"]
    assert checks.errors_outside(errors, None) == ["a", "b", "late"]
    assert checks.error_budget(None, 0.5) == 0
    assert checks.error_budget((0.0, 10.0), 0.5) == 42


def test_unconfirmed_executions_must_have_been_attempted():
    attempted, confirmed = {"a", "b", "c"}, {"a", "b"}
    assert checks.unconfirmed_beyond_attempts({"c"}, attempted, confirmed) == set()
    assert checks.unconfirmed_beyond_attempts({"c", "x"}, attempted, confirmed) == {"x"}


def test_haproxy_bounds_from_the_shipped_config():
    hap = checks.haproxy_checks(HAPROXY_CFG.read_text(encoding="utf-8"))
    # The shipped file: check inter 2s fall 3 rise 2, timeout check 2s, hold valid 5s.
    assert (hap.inter, hap.fall, hap.rise, hap.timeout_check, hap.dns_hold) == (2, 3, 2, 2, 5)
    assert hap.down_bound == 3 * (2 + 2)
    assert hap.up_bound == 5 + 2 * (2 + 2)


def test_haproxy_config_without_check_settings_is_an_error():
    with pytest.raises(ValueError, match="inter"):
        checks.haproxy_checks("defaults\n    timeout check 2s\nresolvers d\n    hold valid 5s\n")


def test_watchdog_bound_is_interval_plus_threshold_with_instant_probes():
    assert checks.watchdog_decision_bound(60, 120, 0) == 180
    # The deciding pass's four broker calls, 5 s each at most, come after.
    assert checks.watchdog_decision_bound(60, 120, 5, jitter=5) == 180 + 20


def test_watchdog_bound_rounds_the_threshold_up_to_whole_intervals():
    assert checks.watchdog_decision_bound(60, 100, 0) == 60 + 120
    # Silence within the jitter of the threshold counts: 125 s needs only 2 passes.
    assert checks.watchdog_decision_bound(60, 125, 0, jitter=5) == 180
    assert checks.watchdog_decision_bound(60, 126, 0, jitter=5) == 240


def test_redis_and_partition_bounds_add_their_terms():
    assert checks.redis_recovery_bound(30, 10, 0.5) == 40.5
    assert partition_stall_bound(30) == 30 + ledger.CONFIRM_TIMEOUT + 4 + 0.5


def test_recovery_is_the_first_good_round_trip_after_which_all_are_good():
    def line(t, ok):
        return {"t": t, "ok": ok, "took": 0.5}
    lines = [line(1, True), line(5, False), line(6, True), line(7, False),
             *[line(8 + i, True) for i in range(5)]]
    assert recovered_at(lines, after=4) == 8.5
    assert recovered_at(lines[:6], after=4) is None  # not 5 good ones yet


def test_scenario_3_counts_only_compared_processes():
    before = {"worker-io": {"io-00": 1, "io-01": 2, "watchdog": 3},
              "worker-default": {"default-00": 4}}
    after = {"worker-io": {"io-00": 9, "io-01": 2, "watchdog": 3},
             "worker-default": {"default-00": 8}}
    seen, changed = compared(before, after, {"worker-default"}, ("worker-io", "io-00"))
    assert seen == ["worker-io/io-01", "worker-io/watchdog"]
    assert changed == []
    seen, changed = compared(before, after, set(), ("worker-io", "io-00"))
    assert changed == ["worker-default/default-00"] and len(seen) == 3


class _Channel:
    def __init__(self):
        self.events = {"basic_ack": set(), "basic_nack": set()}

    def confirm_select(self):
        pass


class _Conn:
    """A connection whose broker acks a delivery tag no task of the batch has."""

    def __init__(self, log):
        self.channel_ = _Channel()
        self.log = log

    def ensure_connection(self, max_retries):
        self.log.append("connect")

    def channel(self):
        return self.channel_

    def drain_events(self, timeout):
        for cb in self.channel_.events["basic_ack"]:
            cb(99, False)

    def release(self):
        pass


class _App:
    def __init__(self):
        self.log = []
        self.amqp = type("Amqp", (), {"Producer": staticmethod(lambda channel: None)})()

    def connection_for_write(self):
        return _Conn(self.log)

    def send_task(self, *args, **kwargs):
        pass


def test_delivery_tag_guard_stops_the_publisher_instead_of_retrying():
    app = _App()
    pub = ledger.Publisher(app, "r", [("default", 0.0)] * 3)  # type: ignore[arg-type]
    pub.start()
    assert pub.join(10)
    assert pub.fatal == "delivery tag 99 beyond the 3 tasks sent"
    assert app.log == ["connect"]  # one attempt: never retried away
    assert not pub.confirmed


def test_log_time_reads_docker_timestamps_to_the_nanosecond():
    line = "2026-12-01T20:39:03.123456789Z watchdog: celery-io:celery-io-00 restart: x"
    assert checks.log_time(line) == pytest.approx(1796157543.123456789)
    assert checks.log_time("2026-12-01T20:39:03+01:00 x") == 1796157543 - 3600
    assert checks.log_time("watchdog: no timestamp") is None
