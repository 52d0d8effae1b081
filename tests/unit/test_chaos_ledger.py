"""Chaos ledger arithmetic: reconciliation, publish stalls, load spread."""

from __future__ import annotations

from collections import Counter

import pytest

from celery_stack.chaos.ledger import longest_gap, reconcile, spread


def test_reconcile_counts_executed_duplicated_and_lost() -> None:
    confirmed = ["a", "b", "c", "d"]
    runs = {"a": 1, "b": 3, "c": 0, "x": 1}  # d never ran, c has a zero entry, x unconfirmed
    counts = reconcile(confirmed, runs)
    assert counts.as_dict() == {"sent": 4, "executed": 2, "duplicated": 1, "lost": 2,
                                "extra_runs": 2, "unconfirmed_executed": 1}
    assert counts.lost_ids == ("c", "d")


def test_reconcile_all_ran_once_is_clean() -> None:
    counts = reconcile({"a", "b"}, {"a": 1, "b": 1})
    assert (counts.sent, counts.executed, counts.duplicated, counts.lost) == (2, 2, 0, 0)


def test_reconcile_samples_at_most_the_requested_lost_ids() -> None:
    counts = reconcile([str(i) for i in range(50)], {}, sample=3)
    assert counts.lost == 50
    assert len(counts.lost_ids) == 3


def test_reconcile_nothing_sent() -> None:
    assert reconcile([], {"a": 2}).as_dict()["unconfirmed_executed"] == 1


def test_longest_gap_finds_the_stall_and_its_start() -> None:
    times = [1.0, 2.0, 2.5, 9.0, 9.5]
    assert longest_gap(times, 0.0, 10.0) == (6.5, 2.5)


def test_longest_gap_counts_the_window_edges() -> None:
    # Nothing confirmed after 3.0 until the window ends at 20.0.
    assert longest_gap([1.0, 3.0], 0.0, 20.0) == (17.0, 3.0)
    # Confirms outside the window are ignored.
    assert longest_gap([-5.0, 30.0], 0.0, 4.0) == (4.0, 0.0)


@pytest.mark.parametrize("count", [1, 10, 1000])
def test_spread_follows_the_weights(count: int) -> None:
    weights = {"default": 5, "priority": 3, "bulk": 2}
    out = spread(count, weights)
    assert len(out) == count
    got = Counter(out)
    for queue, w in weights.items():
        assert abs(got[queue] - count * w / 10) <= 1


def test_spread_interleaves_instead_of_batching() -> None:
    out = spread(10, {"a": 1, "b": 1})
    assert out == ["a", "b"] * 5
