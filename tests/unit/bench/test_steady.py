"""The benchmark's time-based helpers (tests/bench/steady.py): spans, windows, window p50s."""

from __future__ import annotations

from tests.bench.drive import RunResult
from tests.bench.run import parse, plan_of, planned
from tests.bench.steady import (
    Span,
    count_in,
    exhausted,
    figures,
    p50_by_window,
    pool_size,
    rate_in,
    rates_by_window,
    windows,
    worst_window,
)


def test_a_span_holds_its_start_but_not_its_end() -> None:
    span = Span(10.0, 12.0)
    assert span.seconds == 2.0
    assert span.holds(10.0)
    assert not span.holds(12.0)
    assert count_in([9.9, 10.0, 11.0, 12.0], span) == 2


def test_the_rate_counts_only_the_events_inside_the_span() -> None:
    assert rate_in([0.5, 1.0, 1.5, 2.5, 3.0], Span(1.0, 3.0)) == 1.5
    assert rate_in([1.0], Span(1.0, 1.0)) == 0.0


def test_windows_are_whole_and_a_shorter_tail_is_dropped() -> None:
    assert windows(Span(0.0, 12.0), 5.0) == [Span(0.0, 5.0), Span(5.0, 10.0)]
    assert len(windows(Span(0.0, 30.0), 5.0)) == 6
    assert windows(Span(0.0, 4.0), 5.0) == []


def test_rates_by_window_follow_the_arrivals() -> None:
    times = [0.1, 0.2, 0.3, 1.5]
    assert rates_by_window(times, Span(0.0, 2.0), 1.0) == [3.0, 1.0]


def test_each_window_has_the_median_of_the_values_that_arrived_in_it() -> None:
    at = [0.1, 0.2, 0.3, 2.5]
    values = [1.0, 3.0, 2.0, 9.0]
    assert p50_by_window(at, values, Span(0.0, 3.0), 1.0) == [2.0, None, 9.0]


def test_the_worst_window_is_measured_against_the_median_window() -> None:
    worst = worst_window([0.1, 0.1, 0.3, None])
    assert worst["windows"] == 4
    assert worst["empty_windows"] == 1
    assert worst["median_window_p50_ms"] == 100.0
    assert worst["worst_over_median"] == 3.0


def test_without_any_sample_there_is_no_worst_window_ratio() -> None:
    assert worst_window([None, None])["worst_over_median"] is None


def test_the_pool_holds_the_backlog_and_the_lifecycles_the_rate_can_use() -> None:
    assert pool_size(400.0, 10.0, 200) == 200 + 1000  # 4 input events per lifecycle


def test_a_pool_used_up_after_the_steady_span_does_not_count() -> None:
    steady = Span(10.0, 40.0)
    assert exhausted(39.0, steady)
    assert not exhausted(40.5, steady)
    assert not exhausted(None, steady)


def test_the_figures_come_from_the_steady_span_and_the_warm_up_is_apart() -> None:
    run = RunResult(lifecycles=3, inputs_done=[0.5, 1.5, 2.5, 3.5], outputs_seen=4)
    run.latencies, run.latency_at = [0.9, 0.2, 0.4], [0.5, 2.2, 3.1]
    out = figures(run, Span(0.0, 2.0), Span(2.0, 4.0), 1.0)
    assert out["warm_up"] == {"seconds": 2.0, "input_events_done": 2, "events_per_second": 1.0}
    assert out["input_events_done"] == 2
    assert out["events_per_second"] == 1.0
    assert out["approval_to_manifest_p50_ms_by_window"] == [200.0, 400.0]
    assert out["latency_samples"] == 2
    assert out["approval_to_manifest_p99_ms"] == 400.0


def test_the_default_plan_adds_up_to_less_than_15_minutes() -> None:
    assert sum(planned(plan_of(parse([]))).values()) < 15 * 60


def test_the_quick_plan_adds_up_to_less_than_2_minutes() -> None:
    assert sum(planned(plan_of(parse(["--quick"]))).values()) < 2 * 60


def test_every_measured_phase_of_the_default_plan_is_30_s_steady_after_its_warm_up() -> None:
    plan = plan_of(parse([]))
    for timing in (plan.timing, plan.bare_timing):
        assert timing.steady >= 30
        assert timing.warm >= 10
