"""Percentiles, summaries and ratios of the benchmark (pure logic)."""

import pytest

from celery_stack.bench.stats import growth, percentile, ratio, summary, window_mean


def test_percentile_interpolates_between_ranks():
    values = [40.0, 10.0, 30.0, 20.0]  # unsorted on purpose
    assert percentile(values, 0) == 10.0
    assert percentile(values, 100) == 40.0
    assert percentile(values, 50) == 25.0  # halfway between 20 and 30
    assert percentile(values, 99) == pytest.approx(39.7)  # 30 + 0.97 * 10


def test_percentile_of_one_value_is_that_value():
    assert percentile([7.0], 99) == 7.0


@pytest.mark.parametrize("values,q", [([], 50), ([1.0], -1), ([1.0], 101)])
def test_percentile_rejects_empty_input_and_bad_q(values, q):
    with pytest.raises(ValueError, match="percentile"):
        percentile(values, q)


def test_summary_reports_median_and_spread():
    s = summary([3, 1, 2])
    assert (s["median"], s["min"], s["max"], s["spread"], s["n"]) == (2.0, 1.0, 3.0, 2.0, 3)
    assert s["samples"] == [3.0, 1.0, 2.0]


def test_summary_without_samples_names_the_problem():
    with pytest.raises(ValueError, match="no samples"):
        summary([])


def test_ratio_and_zero_denominator():
    assert ratio(1.0, 4.0) == 0.25
    assert ratio(1.0, 0) is None


def test_growth_is_peak_over_baseline():
    assert growth([100.0, 130.0, 110.0], 100.0) == 1.3


def test_window_mean_weights_each_window_by_its_duration():
    # 100 s at 1/s then 20 s at 7/s: 240 messages in 120 s.
    m = window_mean([(100, 1.0), (20, 7.0)])
    assert m["mean"] == pytest.approx(2.0)
    assert (m["window_s"], m["min"], m["max"], m["n"]) == (120, 1.0, 7.0, 2)


def test_window_mean_keeps_the_burst_a_median_drops():
    windows = [(20, 1.39), (20, 4.08), (20, 1.39)]
    assert percentile([r for _, r in windows], 50) == 1.39
    assert window_mean(windows)["mean"] == pytest.approx(6.86 / 3)


@pytest.mark.parametrize("windows", [[], [(0, 1.0)], [(10, 1.0), (-1, 2.0)]])
def test_window_mean_refuses_no_window_or_one_of_no_duration(windows):
    with pytest.raises(ValueError, match="window_mean"):
        window_mean(windows)
