"""The benchmark's table (tests/bench/report.py): the issue's goals, one row each, with verdicts."""

from __future__ import annotations

from typing import Any

from tests.bench.profile import difference, store_round_trips
from tests.bench.report import best_bare, goal_rows, table, windows_ok

MB = 1024 * 1024


def results() -> dict[str, Any]:
    windows = {"worst_over_median": 1.5, "empty_windows": 0}
    return {
        "saturation": {
            "events_per_second": 500.0,
            "service_cpu_ms_per_input_event": 0.5,
            "peak_rss_bytes": {"service": 90 * MB},
            "service_vm_hwm_bytes": 91 * MB,
        },
        "half_rate": {"approval_to_manifest_p99_ms": 40.0, "target_events_per_second": 250.0},
        "bare": {"message": {"events_per_second": 400.0}, "batch": {"events_per_second": 600.0}},
        "profile": {"store_round_trips_per_input_event": 0.75},
        "growth": {
            "small": {
                "events_per_second": 100.0,
                "facts_loaded": 10_000,
                "latency_windows": windows,
            },
            "big": {
                "events_per_second": 95.0,
                "facts_loaded": 1_000_000,
                "window_seconds": 5,
                "latency_windows": windows,
                "peak_rss_bytes": {"service": 120 * MB},
            },
        },
    }


def test_the_table_has_the_seven_goals_in_the_issues_order() -> None:
    rows = goal_rows(results())
    assert [r[2] for r in rows] == [
        ">= 1.0",
        ">= 1,000",
        "< 50 ms",
        ">= 0.9; <= 2 in every window",
        "<= 0.8 ms",
        "<= 0.5",
        "< 250 MB",
    ]
    assert [r[3] for r in rows] == ["not met", "not met", "met", "met", "met", "not met", "met"]


def test_the_ratio_is_taken_against_the_bare_pipelines_better_mode() -> None:
    assert best_bare(results()["bare"]) == ("batch", 600.0)
    assert goal_rows(results())[0][1].startswith("0.833 ")


def test_the_peak_rss_is_the_highest_of_the_plain_service_phases() -> None:
    assert goal_rows(results())[6][1] == "120.0 MB (growth big)"


def test_a_window_without_any_manifest_fails_the_growth_goal() -> None:
    assert windows_ok({"latency_windows": {"worst_over_median": 1.1, "empty_windows": 0}})
    assert not windows_ok({"latency_windows": {"worst_over_median": 2.5, "empty_windows": 0}})
    assert not windows_ok({"latency_windows": {"worst_over_median": 1.1, "empty_windows": 1}})
    assert windows_ok({}) is None


def test_a_figure_not_measured_says_so_rather_than_failing() -> None:
    assert {r[3] for r in goal_rows({})} == {"not measured"}


def test_a_quick_run_is_labelled_above_the_table() -> None:
    text = table({**results(), "label": "quick: not a measurement"})
    assert text.splitlines()[0] == "*** quick: not a measurement ***"


def test_round_trips_are_the_mongo_commands_counted_between_two_snapshots() -> None:
    before = {
        "mongo.find": {"calls": 10, "seconds": 1.0},
        "store.append": {"calls": 2, "seconds": 0.5},
    }
    after = {
        "mongo.find": {"calls": 25, "seconds": 2.0},
        "mongo.insert.failed": {"calls": 1, "seconds": 0.1},
        "store.append": {"calls": 7, "seconds": 1.5},
    }
    diff = difference(after, before)
    assert diff["mongo.find"] == {"calls": 15, "seconds": 1.0}
    assert store_round_trips(diff) == 16
