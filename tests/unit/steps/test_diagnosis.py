"""Diagnosis rules on small hand-computed cases: which services are blocked, how findings keep their age, when a
blocked drain may answer early."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ecs_drain.aws.budget import CallBudget
from ecs_drain.aws.ecs_calls import describe_services
from ecs_drain.decisions import findings
from ecs_drain.decisions.findings import Observation
from ecs_drain.decisions.properties import parse
from ecs_drain.model.state import Cause, Finding, Spare
from ecs_drain.steps import diagnosis, draining
from ecs_drain.steps.census import Pending, count
from ecs_drain.steps.diagnosis import Gate
from tests.fakes import FakeEcs, clients

A, B, OTHER = "aaaaaaaa", "bbbbbbbb", "cccccccc"
T0 = 1_800_000_000.0


def cluster_with(service: str, tasks_on_a: int, tasks_elsewhere: int = 0, **fields: Any) -> FakeEcs:
    ecs = FakeEcs()
    for cid in (A, B, OTHER):
        ecs.add_instance(cid)
    for n in range(tasks_on_a):
        ecs.add_task(A, f"{service}-a{n}", group=f"service:{service}")
    for n in range(tasks_elsewhere):
        ecs.add_task(OTHER, f"{service}-o{n}", group=f"service:{service}")
    ecs.service_fields[service] = dict(fields)
    return ecs


def findings_of(ecs: FakeEcs, started: float = T0, now: float = T0 + 30) -> list[Finding]:
    state = draining.plan(parse({"Cluster": "web", "InstanceIds": [f"i-{A}", f"i-{B}"]}), clients(ecs), now=started)
    census = count(ecs.client, "web", Pending([A, B]), CallBudget(), 0.0)
    services = describe_services(ecs.client, "web")
    gate = Gate(waiting=False, spare=None, draining_since=started)
    return diagnosis.diagnose(state, gate, diagnosis.Looked(ecs.client, CallBudget(), services, census, now))


def config(minimum: int, maximum: int, desired: int) -> dict[str, Any]:
    return {
        "desiredCount": desired,
        "deploymentConfiguration": {"minimumHealthyPercent": minimum, "maximumPercent": maximum},
    }


def test_it_finds_a_service_that_may_neither_start_nor_stop_a_task_and_counts_its_tasks_on_the_targets() -> None:
    found = findings_of(cluster_with("pinned", 2, 1, **config(100, 100, 3)))
    assert [(f["cause"], f["subject"], f["tasks"]) for f in found] == [
        ("DEPLOYMENT_CONFIGURATION", "service pinned", 2)  # the third task runs elsewhere
    ]
    assert "minimumHealthyPercent 100 and maximumPercent 100" in found[0]["detail"]


def test_it_rounds_as_ecs_does_maximum_down_and_minimum_up() -> None:
    # 3 tasks at maximumPercent 130: floor(3.9) = 3, no room for a fourth; minimum 100: all 3 must stay.
    assert findings_of(cluster_with("svc", 3, **config(100, 130, 3)))[0]["cause"] == "DEPLOYMENT_CONFIGURATION"
    # maximumPercent 150: floor(4.5) = 4, one replacement may start: not blocked.
    assert findings_of(cluster_with("svc", 3, **config(100, 150, 3))) == []
    # minimumHealthyPercent 67: ceil(2.01) = 3 must stay; with maximumPercent 100 it is blocked.
    assert findings_of(cluster_with("svc", 3, **config(67, 100, 3)))[0]["cause"] == "DEPLOYMENT_CONFIGURATION"
    # minimumHealthyPercent 66: ceil(1.98) = 2: one task may stop first: not blocked.
    assert findings_of(cluster_with("svc", 3, **config(66, 100, 3))) == []


def test_it_ignores_a_blocked_service_with_no_task_on_the_targets() -> None:
    assert findings_of(cluster_with("pinned", 0, 3, **config(100, 100, 3))) == []


def test_it_reads_unable_to_place_events_written_since_the_drain_began_with_the_requirement() -> None:
    message = (
        "service (edge) was unable to place a task because no container instance met all of its requirements. "
        "The closest matching container-instance 5f0e is already using a port required by your task."
    )
    before = {"id": "1", "createdAt": datetime.fromtimestamp(T0 - 60, UTC), "message": message}
    assert findings_of(cluster_with("edge", 1, **config(100, 200, 1), events=[before])) == []
    after = {"id": "2", "createdAt": datetime.fromtimestamp(T0 + 10, UTC), "message": message}
    found = findings_of(cluster_with("edge", 1, **config(100, 200, 1), events=[after, before]))
    assert [(f["cause"], f["since"]) for f in found] == [("CANNOT_PLACE", T0 + 10)]
    assert "the closest instance is already using a port required by your task" in found[0]["detail"]


def test_it_warns_when_every_task_of_a_service_may_stop_at_once_and_all_are_on_the_targets() -> None:
    found = findings_of(cluster_with("solo", 1, **config(0, 100, 1)))
    assert [(f["cause"], f["tasks"]) for f in found] == [("SERVICE_UNAVAILABLE", 1)]
    assert findings_of(cluster_with("solo", 1, 1, **config(0, 100, 2))) == []  # one task elsewhere keeps serving


def observed(tasks: int) -> Observation:
    return Observation(Cause.DEPLOYMENT_CONFIGURATION, "service pinned", tasks, "detail")


def test_it_keeps_when_a_finding_was_first_seen_and_restarts_the_stuck_clock_when_its_tasks_drop() -> None:
    first = findings.merge([], [observed(3)], now=100.0)
    assert (first[0]["since"], first[0]["stuckSince"]) == (100.0, 100.0)
    same = findings.merge(first, [observed(3)], now=160.0)
    assert (same[0]["since"], same[0]["stuckSince"]) == (100.0, 100.0)
    fewer = findings.merge(same, [observed(2)], now=220.0)
    assert (fewer[0]["since"], fewer[0]["stuckSince"]) == (100.0, 220.0)
    assert findings.merge(fewer, [], now=280.0) == []  # gone when no longer seen


def test_it_keeps_a_warning_once_seen_and_orders_what_ecs_cannot_resolve_first() -> None:
    warning = Observation(Cause.SERVICE_UNAVAILABLE, "service solo", 1, "detail")
    standalone = Observation(Cause.STANDALONE_TASKS, "task group family:job", 1, "detail")
    found = findings.merge([], [warning, standalone, observed(1)], now=100.0)
    assert [f["cause"] for f in found] == ["DEPLOYMENT_CONFIGURATION", "STANDALONE_TASKS", "SERVICE_UNAVAILABLE"]
    assert [f["cause"] for f in findings.merge(found, [], now=200.0)] == ["SERVICE_UNAVAILABLE"]


def test_it_calls_a_drain_blocked_only_after_the_timeout_with_no_task_moving() -> None:
    found = findings.merge([], [observed(3)], now=100.0)
    assert findings.blocked(found, now=159.0, after_seconds=60) is None
    assert findings.blocked(found, now=160.0, after_seconds=60) is not None
    standalone = findings.merge([], [Observation(Cause.STANDALONE_TASKS, "task group x", 1, "d")], now=0.0)
    assert findings.blocked(standalone, now=10_000.0, after_seconds=60) is None  # it ends by itself


def test_it_sees_a_previous_attempts_block_unchanged_only_with_at_least_as_many_tasks() -> None:
    earlier = findings.merge([], [observed(3)], now=100.0)
    assert findings.unchanged(earlier, findings.merge([], [observed(3)], now=500.0))
    assert not findings.unchanged(earlier, findings.merge([], [observed(2)], now=500.0))
    assert not findings.unchanged(earlier, [])


def test_it_answers_early_only_when_nothing_but_the_blocked_and_daemon_tasks_is_left() -> None:
    ecs = cluster_with("pinned", 1, **config(100, 100, 1))
    ecs.daemons.add("agent")
    ecs.add_task(A, "agent-a", group="service:agent")
    ecs.add_task(A, "web-a", last="DEACTIVATING", desired="STOPPED")  # serving its last requests
    ecs.instances[A]["status"] = ecs.instances[B]["status"] = "DRAINING"
    census = count(ecs.client, "web", Pending([A, B]), CallBudget(), 0.0)
    services = describe_services(ecs.client, "web")
    found = findings.merge([], [observed(1)], now=100.0)
    assert not diagnosis.only_blocked_left(ecs.client, "web", census, found, services, CallBudget())
    ecs.set_task("web-a", "STOPPED")
    assert diagnosis.only_blocked_left(ecs.client, "web", census, found, services, CallBudget())
    ecs.add_task(A, "job-a", group="family:job")  # a standalone task would be killed with the instance
    census = count(ecs.client, "web", Pending([A, B]), CallBudget(), 0.0)
    assert not diagnosis.only_blocked_left(ecs.client, "web", census, found, services, CallBudget())


def test_it_says_when_the_gate_judged_the_room_without_the_claims_it_could_not_read() -> None:
    """The claims of other rollovers and drains could not be read (the table's trouble): the gate judged the room as
    ECS shows it, and the diagnosis says so, as a warning that fails nothing."""
    ecs = cluster_with("web", 2)
    state = draining.plan(parse({"Cluster": "web", "InstanceIds": [f"i-{A}", f"i-{B}"]}), clients(ecs), now=T0)
    census = count(ecs.client, "web", Pending([A, B]), CallBudget(), 0.0)
    spare: Spare = {"instances": 1, "cpu": 4096, "memory": 8192, "largestCpu": 4096, "largestMemory": 8192}
    looked = diagnosis.Looked(ecs.client, CallBudget(), describe_services(ecs.client, "web"), census, T0 + 30)
    quiet = diagnosis.diagnose(state, Gate(True, spare, None), looked)
    unread = diagnosis.diagnose(state, Gate(True, spare | {"claimsUnread": True}, None), looked)
    assert not [f for f in quiet if f["subject"] == "other rollovers"]
    [said] = [f for f in unread if f["subject"] == "other rollovers"]
    assert said["cause"] == Cause.NOT_JUDGED and "could not be read" in said["detail"]
