"""The in-place demo's reading of its samples, by hand: spans per state, and where a hook let an instance go on."""

from __future__ import annotations

from emulation.in_place_demo import GONE, Lifecycle, completions


def test_it_joins_samples_into_one_span_per_state_and_says_how_each_hook_let_go() -> None:
    lifecycle = Lifecycle(started=1000.0, old={"i-old"})
    lifecycle.samples = [
        (1000.0, {"i-old": "InService"}),
        (1030.0, {"i-old": "Terminating:Wait", "i-new": "Pending:Wait"}),
        (1060.0, {"i-old": "Terminating:Wait, DRAINING", "i-new": "Pending:Wait"}),
        (1090.0, {"i-new": "InService"}),  # the old one gone: terminated
        (1120.0, {"i-new": "InService"}),
    ]
    spans = lifecycle.spans()
    assert spans["i-old"] == [
        (0.0, 0.5, "InService"),
        (0.5, 1.0, "Terminating:Wait"),
        (1.0, 1.5, "Terminating:Wait, DRAINING"),
    ]
    assert spans["i-new"] == [(0.5, 1.5, "Pending:Wait"), (1.5, 2.0 + 5 / 60, "InService")]
    end = 2.0 + 5 / 60
    assert completions(spans["i-old"], end) == [(1.5, "CONTINUE")]
    assert completions(spans["i-new"], end) == [(1.5, "CONTINUE")]
    assert completions([(0.0, 1.0, "Pending:Wait")], end) == [(1.0, "ABANDON")]  # terminated before service
    assert completions([(0.0, 1.0, "Terminating:Wait"), (1.0, end, "Retained")], end) == [(1.0, "ABANDON")]
    assert completions([(0.0, end, "Pending:Wait")], end) == []  # still held when the samples end
    assert [t[1:] for t in lifecycle.transitions()][-2:] == [
        ("i-new", "Pending:Wait", "InService"),
        ("i-old", "Terminating:Wait, DRAINING", GONE),
    ]


def test_it_says_each_status_change_once_those_seconds_apart_by_the_later() -> None:
    lifecycle = Lifecycle(started=1000.0)
    lifecycle.refresh = [
        (1000.0, "UPDATE_IN_PROGRESS, refresh InProgress"),
        (1360.0, "UPDATE_IN_PROGRESS, refresh Failed"),
        (1365.0, "UPDATE_ROLLBACK_IN_PROGRESS, refresh (back) InProgress"),
        (1744.0, "UPDATE_ROLLBACK_COMPLETE, refresh (back) Successful"),
    ]
    assert lifecycle.changes() == [
        (0.0, "UPDATE_IN_PROGRESS, refresh InProgress"),
        (6.083333333333333, "UPDATE_ROLLBACK_IN_PROGRESS, refresh (back) InProgress"),
        (12.4, "UPDATE_ROLLBACK_COMPLETE, refresh (back) Successful"),
    ]
