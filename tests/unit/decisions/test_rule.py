"""The rule as tables: a state before, a snapshot of what a check saw, and the phase, ending and Reason it gives.

No fake ECS: the rule is a pure function of what was observed (docs/how-it-works.md, "What ends a drain", has a row
here for every ending).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from ecs_drain.decisions import rule
from ecs_drain.decisions.findings import Observation, merge
from ecs_drain.decisions.properties import MAX_MANUAL_DRAIN_SECONDS, DrainProperties, parse
from ecs_drain.model.state import (
    CHECKS_PER_EXECUTION,
    Cause,
    CountMemory,
    DrainState,
    Finding,
    Phase,
    PreflightPhase,
    PreviousDrain,
    RemainingInstance,
    Spare,
    no_instances,
    pack_ids,
)

T0 = 1_800_000_000.0  # the request
A, B = "a" * 32, "b" * 32  # container instance ids


def props(**given: Any) -> DrainProperties:
    return parse(
        {
            "Cluster": "web",
            "SpotFleet": "sfr-0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d",
            "PollIntervalSeconds": "15",
            **given,
        }
    )


def pinned(tasks: int, since: float = T0) -> list[Finding]:
    return merge([], [Observation(Cause.DEPLOYMENT_CONFIGURATION, "service pinned", tasks, "min 100, max 100")], since)


def drain(
    phase: Phase = Phase.DRAINING, checks: int = 3, findings: list[Finding] | None = None, **given: Any
) -> DrainState:
    """A drain of 2 instances, 5 tasks at the start, planned at T0."""
    state = rule.new_drain(props(**given), T0, T0)
    state["phase"] = phase
    state["checks"], state["diagnosis"] = checks, findings or []
    state["summary"] |= {"instances": 2, "tasksAtStart": 5, "tasksRemaining": 5}
    state["need"] = {"cpu": 512, "memory": 1024, "largestCpu": 256, "largestMemory": 512}
    state["pendingCount"] = 2
    return state


def seen(seconds: float, busy: tuple[str, ...] = (A,), tasks: int = 2, **more: Any) -> rule.DrainSnapshot:
    remaining = tuple(
        RemainingInstance(ec2InstanceId=f"i-{i[:8]}", containerInstance=i, status="DRAINING", tasks=tasks, stopping=0)
        for i in busy
    )
    count: CountMemory = {"pending": pack_ids(busy), "pendingCount": len(busy), "watched": "", "listed": ""}
    return rule.DrainSnapshot(
        T0 + seconds, count=count, busy=len(busy), tasks=tasks, remaining=remaining, draining=True, **more
    )


ROOM: Spare = {"cpu": 4096, "memory": 8192, "largestCpu": 2048, "largestMemory": 4096, "instances": 2}
NO_ROOM: Spare = {"cpu": 0, "memory": 0, "largestCpu": 0, "largestMemory": 0, "instances": 0}
PREVIOUS: PreviousDrain = {"execution": "web-ECSDrain-1", "startedAt": T0 - 600, "diagnosis": pinned(1, T0 - 600)}


@dataclass(frozen=True)
class Row:
    why: str
    before: DrainState
    seen: rule.DrainSnapshot
    phase: str
    head: str  # how the message starts
    given: dict[str, str] = field(default_factory=dict)
    previous: PreviousDrain | None = None


DRAIN_ROWS = [
    Row("every task on the targets STOPPED", drain(), seen(60, busy=(), tasks=0), Phase.DRAINED, "Drained 2 container"),
    Row(
        "the cluster gone",
        drain(),
        rule.DrainSnapshot(T0 + 60, cluster_gone=True),
        Phase.NOTHING_TO_DRAIN,
        "Cluster web",
    ),
    Row("tasks left before the deadline", drain(), seen(60), Phase.DRAINING, "2 tasks on 1 instance still running"),
    Row(
        "the deadline",
        drain(DrainTimeoutSeconds="600"),
        seen(600),
        Phase.DEADLINE,
        "Deadline reached with tasks still running",
        {"DrainTimeoutSeconds": "600"},
    ),
    Row(
        "checks that came early, far past the checks polling needs, before the deadline: only time ends a drain",
        drain(checks=10_000, DrainTimeoutSeconds="600"),
        seen(60),
        Phase.DRAINING,
        "2 tasks on 1 instance still running",
        {"DrainTimeoutSeconds": "600"},
    ),
    Row(
        "a drain by hand at its 7 days, however many executions its chain took",
        drain(),
        seen(MAX_MANUAL_DRAIN_SECONDS),
        Phase.DEADLINE,
        "Deadline reached with tasks still running",
    ),
    Row(
        "BlockedTimeoutSeconds with a blocking finding and nothing else left",
        drain(findings=pinned(2)),
        seen(300, findings=tuple(pinned(2)), only_blocked_left=True),
        Phase.BLOCKED,
        "Blocked for 300 s by a cause ECS cannot resolve",
        {"BlockedTimeoutSeconds": "300"},
    ),
    Row(
        "BlockedTimeoutSeconds with other tasks still leaving: not early",
        drain(findings=pinned(2)),
        seen(300, findings=tuple(pinned(2)), only_blocked_left=False),
        Phase.DRAINING,
        "2 tasks on 1 instance still running. Diagnosis: service pinned: DEPLOYMENT_CONFIGURATION",
        {"BlockedTimeoutSeconds": "300"},
    ),
    Row(
        "a retried Delete finding the previous attempt's block unchanged",
        drain(findings=pinned(1)),
        seen(30, tasks=1, findings=tuple(pinned(1)), only_blocked_left=True),
        Phase.BLOCKED,
        "Still blocked, as the previous attempt (web-ECSDrain-1) found",
        previous=PREVIOUS,
    ),
    Row(
        "a retried Delete whose block is gone: drains on",
        drain(),
        seen(30, tasks=1),
        Phase.DRAINING,
        "1 task on 1 instance still running",
        previous=PREVIOUS,
    ),
    Row(
        "waiting for room that is not there yet",
        drain(Phase.WAITING_FOR_CAPACITY),
        replace(seen(60), spare=NO_ROOM, draining=False),
        Phase.WAITING_FOR_CAPACITY,
        "Waiting for capacity: need 512 CPU / 1024 MiB elsewhere",
    ),
    Row(
        "room found: the targets are set DRAINING",
        drain(Phase.WAITING_FOR_CAPACITY),
        replace(seen(60), spare=ROOM, draining=True),
        Phase.DRAINING,
        "2 tasks on 1 instance still running",
    ),
]


@pytest.mark.parametrize("row", DRAIN_ROWS, ids=[r.why for r in DRAIN_ROWS])
def test_it_decides_each_drain_check_as_its_row_says(row: Row) -> None:
    before = copy.deepcopy(row.before)
    after = rule.decide_drain(row.before, row.seen, props(**row.given), row.previous)
    assert (after["phase"], after["message"][: len(row.head)]) == (row.phase, row.head)
    assert row.before == before  # the state before is left as it was
    assert after["checks"] == before["checks"] + 1 and after["checkedAt"] == row.seen.now
    ended = row.phase in (Phase.DRAINED, Phase.DEADLINE, Phase.BLOCKED, Phase.NOTHING_TO_DRAIN)
    assert (after["nextCheckInSeconds"] == 0) == ended
    if ended:
        assert after["timeline"]["endedAt"] == row.seen.now and after["summary"]["seconds"] == row.seen.now - T0


def test_it_keeps_what_a_check_saw_for_the_next_and_the_reason() -> None:
    after = rule.decide_drain(
        drain(Phase.WAITING_FOR_CAPACITY), replace(seen(60), spare=ROOM, problems=("refused",)), props()
    )
    assert after["timeline"]["capacityReadyAt"] == after["timeline"]["drainingSetAt"] == T0 + 60
    assert (after["pendingCount"], after["summary"]["tasksRemaining"], after["summary"]["drained"]) == (1, 2, 1)
    assert after["spare"] == ROOM and after["problems"] == ["refused"]
    assert [r["containerInstance"] for r in after["remaining"]] == [A]


def test_it_keeps_only_the_warnings_of_a_drain_that_finished() -> None:
    warned = merge([], [Observation(Cause.SERVICE_UNAVAILABLE, "service solo", 1, "goes to zero")], T0)
    after = rule.decide_drain(drain(findings=pinned(1) + warned), seen(60, busy=(), tasks=0), props())
    assert [f["cause"] for f in after["diagnosis"]] == ["SERVICE_UNAVAILABLE"]
    assert "Warning: service solo" in after["message"]


@pytest.mark.parametrize(
    ("snapshot", "wait"),
    [
        (seen(60), 15),  # the poll interval
        (seen(60, out_of_time=True), rule.BACKLOG_RECHECK_SECONDS),  # listings wait for the budget, not for ECS
        (seen(590), 10),  # the last check falls on the deadline
    ],
)
def test_it_sets_the_next_check_by_the_poll_the_backlog_and_the_deadline(
    snapshot: rule.DrainSnapshot, wait: int
) -> None:
    after = rule.decide_drain(drain(DrainTimeoutSeconds="600"), snapshot, props(DrainTimeoutSeconds="600"))
    assert after["nextCheckInSeconds"] == wait


def test_it_reads_whether_only_blocked_tasks_are_left_only_when_an_early_answer_hinges_on_it() -> None:
    blocked_for = props(BlockedTimeoutSeconds="300")
    assert not rule.early_answer_possible(pinned(2), props(), T0 + 300, None)  # no BlockedTimeoutSeconds
    assert not rule.early_answer_possible(pinned(2), blocked_for, T0 + 299, None)  # not blocked for long enough
    assert rule.early_answer_possible(pinned(2), blocked_for, T0 + 300, None)
    assert rule.early_answer_possible(pinned(1), props(), T0 + 30, PREVIOUS)  # the same block as the last attempt
    assert not rule.early_answer_possible([], props(), T0 + 30, PREVIOUS)


@pytest.mark.parametrize(
    ("ec2", "registered", "head"),
    [
        (None, 0, "SpotFleet sfr-0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d no longer exists: nothing to drain."),
        (0, 0, "SpotFleet sfr-0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d has no running instances: nothing to drain."),
        (
            3,
            0,
            "None of the 3 instances of SpotFleet sfr-0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d is registered in web: "
            "nothing to drain.",
        ),
    ],
)
def test_it_finds_nothing_to_drain_for_a_target_gone_empty_or_unregistered(
    ec2: int | None, registered: int, head: str
) -> None:
    ending = rule.plan_ending(props(), ec2, registered)
    assert ending is not None and (ending.phase, ending.message) == (Phase.NOTHING_TO_DRAIN, head)
    assert rule.plan_ending(props(), 3, 3) is None


def test_it_ends_a_drain_whose_step_kept_failing_at_its_deadline_naming_the_error() -> None:
    before = drain(DrainTimeoutSeconds="600")
    after = rule.give_up_drain(before, T0 + 600, TimeoutError("the step timed out"))
    assert after["phase"] == Phase.DEADLINE and before["phase"] == Phase.DRAINING
    assert after["message"].startswith("Deadline reached while the drain step kept failing (TimeoutError: the step")


def test_it_counts_the_deadline_and_the_check_bound_from_the_request() -> None:
    state = rule.new_drain(props(DrainTimeoutSeconds="600"), now=T0 + 40, requested_at=T0)
    assert (state["startedAt"], state["deadline"], state["maxChecks"]) == (T0, T0 + 600, 42)
    by_hand = parse({"Cluster": "web", "InstanceIds": ["i-aaaaaaaa"]}, from_cloudformation=False)
    assert rule.new_drain(by_hand, now=T0, requested_at=None)["deadline"] is None  # by hand: no deadline
    assert rule.next_check_in(15, deadline=None, now=T0) == 15
    assert rule.next_check_in(15, deadline=T0 + 0.2, now=T0) == 1  # never less than a second


# The preflight

NEW = props(SpotFleet="sfr-9f8e7d6c-5b4a-4321-8fed-cba987654321", PreflightTimeoutSeconds="900")
OLD = props()
READY = {"listed": 3, "registered": 3, "ready": 3, "daemonsRunning": 3}


def look(seconds: float, **more: Any) -> rule.PreflightSnapshot:
    return rule.PreflightSnapshot(T0 + seconds, **{"instances": no_instances(), **more})


PINNED = Observation(Cause.DEPLOYMENT_CONFIGURATION, "service pinned", 2, "min 100, max 100")
PREFLIGHT_ROWS = [
    (
        "a service ECS cannot move: failed at once",
        look(30, observations=(PINNED,)),
        PreflightPhase.FAILED,
        "Preflight failed: draining",
    ),
    (
        "the new instances still coming",
        look(30, waiting_for=("3 instances of SpotFleet sfr-9f8e7d6c-5b4a-4321-8fed-cba987654321 to register",)),
        PreflightPhase.WAITING_FOR_INSTANCES,
        "Preflight: waiting for SpotFleet sfr-9f8e7d6c-5b4a-4321-8fed-cba987654321: 3 instances",
    ),
    (
        "the new instances never came: failed at the deadline",
        look(900, waiting_for=("3 instances of SpotFleet sfr-9f8e7d6c-5b4a-4321-8fed-cba987654321 to register",)),
        Phase.DEADLINE,
        "Preflight failed: after 900 s (PreflightTimeoutSeconds)",
    ),
    (
        "ready, and room for every task",
        look(120, instances=READY, services=({"service": "web", "tasks": 6, "placed": 6},)),
        PreflightPhase.PASSED,
        "Preflight passed: 3 instances of SpotFleet sfr-9f8e7d6c-5b4a-4321-8fed-cba987654321",
    ),
]


@pytest.mark.parametrize(("why", "snapshot", "phase", "head"), PREFLIGHT_ROWS, ids=[r[0] for r in PREFLIGHT_ROWS])
def test_it_decides_each_preflight_look_as_its_row_says(
    why: str, snapshot: rule.PreflightSnapshot, phase: str, head: str
) -> None:
    del why
    before = rule.new_preflight(NEW, OLD, T0, T0)
    after = rule.decide_preflight(before, snapshot, NEW)
    assert (after["phase"], after["message"][: len(head)]) == (phase, head)
    assert before["checks"] == 0 and after["checks"] == 1
    assert (after["nextCheckInSeconds"] == 0) == (phase != PreflightPhase.WAITING_FOR_INSTANCES)


def test_it_names_what_the_preflight_waited_for_as_a_finding_at_its_deadline() -> None:
    after = rule.decide_preflight(rule.new_preflight(NEW, OLD, T0, T0), look(900, waiting_for=("x",)), NEW)
    assert [(f["cause"], f["subject"], f["detail"]) for f in after["diagnosis"]] == [
        ("NOT_READY", "SpotFleet sfr-9f8e7d6c-5b4a-4321-8fed-cba987654321", "x")
    ]


def test_it_fails_a_preflight_whose_step_kept_failing_at_its_deadline() -> None:
    after = rule.give_up_preflight(rule.new_preflight(NEW, OLD, T0, T0), TimeoutError("timed out"))
    assert (after["phase"], after["seconds"]) == (PreflightPhase.DEADLINE, 900.0)
    assert "(TimeoutError: timed out)" in after["message"]


def test_it_wakes_on_the_last_reported_stop_only_when_watched_tasks_are_all_that_is_left() -> None:
    only_watched = replace(seen(60), only_watched_left=True, events_on=True)
    assert rule.decide_drain(drain(), only_watched, props())["events"]["wake"]
    still_emptying = replace(only_watched, only_watched_left=False)  # an instance still runs tasks (test_census)
    assert not rule.decide_drain(drain(), still_emptying, props())["events"]["wake"]
    without_events = replace(only_watched, events_on=False)
    assert not rule.decide_drain(drain(), without_events, props())["events"]["wake"]


def test_it_reads_the_unreported_tasks_every_two_polls_while_events_come_and_every_check_once_one_was_missed() -> None:
    after = rule.decide_drain(drain(), replace(seen(60), events_on=True, reconciled=True), props())
    events = after["events"]
    assert events["reconciledAt"] == T0 + 60
    assert not rule.reconcile_due(events, 15, T0 + 75)  # one poll later
    assert rule.reconcile_due(events, 15, T0 + 90)  # two polls later
    assert rule.reconcile_due({**events, "on": False}, 15, T0 + 75)  # no events: every check
    missed = rule.decide_drain(after, replace(seen(75), events_on=True, reconciled=True, missed=1), props())
    assert missed["events"]["missed"] == 1 and rule.reconcile_due(missed["events"], 15, T0 + 90)


def test_it_keeps_the_state_machines_bound_ahead_of_checks_that_come_early() -> None:
    """A backlog rechecks after 1 s: a drain of 600 s polled every 15 s (a bound of 42 checks) checked every second
    never reaches the bound before its deadline, and the bound never passes what polling to the deadline needs."""
    given = {"DrainTimeoutSeconds": "600"}
    state = drain(checks=0, DrainTimeoutSeconds="600")
    assert state["maxChecks"] == rule.check_bound(600, 15) == 42
    for second in range(1, 600):
        state = rule.decide_drain(state, seen(second, out_of_time=True), props(**given))
        assert state["phase"] == Phase.DRAINING and state["checks"] < state["maxChecks"], second
        assert state["maxChecks"] <= state["checks"] + rule.check_bound(600 - second, 15)
    assert state["checks"] == 599 and state["nextCheckInSeconds"] == 1
    ended = rule.decide_drain(state, seen(600), props(**given))
    assert ended["phase"] == Phase.DEADLINE


def test_it_goes_on_in_the_next_execution_after_its_share_of_checks_and_counts_each_execution_from_zero() -> None:
    """1,538 checks fit one execution's history: the 1,538th check of execution 1 says go on; execution 2 counts
    its own from 0; a drain that is over never goes on."""
    state = drain(checks=0)
    for _ in range(CHECKS_PER_EXECUTION - 1):
        state = rule.counted_in_execution(state, 1)
        assert not state["goOn"]
    state = rule.counted_in_execution(state, 1)
    assert state["goOn"] and state["linkChecks"] == CHECKS_PER_EXECUTION == 1_538
    state = rule.counted_in_execution(state, 2)
    assert not state["goOn"] and (state["link"], state["linkChecks"]) == (2, 1)
    over = drain(Phase.DRAINED) | {"over": True, "link": 2, "linkChecks": CHECKS_PER_EXECUTION}
    assert not rule.counted_in_execution(over, 2)["goOn"]
