"""The Supervisor loop of ``celery-stack watchdog --interval``: passes start on a
fixed grid, so a slow pass (probe timeouts on a loaded host) delays no later one.
Chaos scenario 3's restart bound (interval + threshold) relies on it."""

from __future__ import annotations

import argparse

from celery_stack.watchdog import run as wd


def test_next_start_is_on_the_grid_whatever_the_pass_took():
    assert wd.next_start(100.0, 60.0, 100.0) == 160.0
    assert wd.next_start(100.0, 60.0, 123.4) == 160.0  # a 23 s pass
    assert wd.next_start(100.0, 60.0, 160.0) == 220.0


def test_a_pass_longer_than_the_interval_skips_the_points_it_overran():
    assert wd.next_start(0.0, 60.0, 130.0) == 180.0


def test_loop_starts_passes_every_interval_although_each_pass_takes_time(monkeypatch):
    t = [1000.0]
    starts = []

    def fake_pass(_args):
        starts.append(t[0])
        t[0] += 23.0  # three probe timeouts and a connection on a loaded host
        return 0

    def sleep(s):
        t[0] += s
    monkeypatch.setattr(wd, "run_pass", fake_pass)
    rc = wd.run(argparse.Namespace(interval=60.0), clock=lambda: t[0], sleep=sleep, passes=4)
    assert rc == 0
    # The old loop slept 60 s after each pass: starts 1000, 1083, 1166, 1249.
    assert starts == [1000.0, 1060.0, 1120.0, 1180.0]


def test_a_configuration_error_ends_the_loop_at_once(monkeypatch):
    monkeypatch.setattr(wd, "run_pass", lambda _args: 2)
    assert wd.run(argparse.Namespace(interval=60.0), clock=lambda: 0.0,
                  sleep=lambda s: None, passes=3) == 2
