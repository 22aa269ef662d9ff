"""The emulation's ECS events on EventBridge, pinned on small hand-computed cases: one event per change of a task,
its version up by one each time, and deliveries late, twice, out of order or never, as the delivery says."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from emulation.ecs_events import SOURCE, TASK_STATE_CHANGE, Delivery, EventBus
from emulation.ecs_simulator import EcsSimulator
from tests.emulation.simulated import ACCOUNT, REGION, simulator

ON_THE_CLUSTER = {"source": [SOURCE], "detail-type": [TASK_STATE_CHANGE]}


@pytest.fixture
def sim() -> Iterator[EcsSimulator]:
    with simulator(instances=1) as (simulated, ec2_ids):
        simulated.register_instance(ec2_ids[0])
        yield simulated


def job_lifetime(sim: EcsSimulator, delivery: Delivery) -> tuple[list[tuple[float, dict[str, Any]]], Any]:
    """A standalone job started at t0 and stopped 100 s later; everything delivered by t0 + 400 s."""
    bus = EventBus(sim, ACCOUNT, REGION)
    received: list[tuple[float, dict[str, Any]]] = []
    counts = bus.put_rule("drains", ON_THE_CLUSTER, lambda e: received.append((sim.now, e)), delivery)
    (instance,) = sim.instances
    arn = sim.run_standalone(instance, "job", cpu=256, memory=256)
    sim.clock.advance(100)
    sim.stop(arn, "Stopped by user")
    sim.clock.advance(300)
    return received, counts


def statuses(received: list[tuple[float, dict[str, Any]]]) -> list[tuple[int, str, str]]:
    return [(e["detail"]["version"], e["detail"]["lastStatus"], e["detail"]["desiredStatus"]) for _, e in received]


# PENDING (created), RUNNING; StopTask: desiredStatus STOPPED; no load balancer: STOPPING at once; the container
# exits after its 5 s shutdown: DEPROVISIONING; 2 s later STOPPED.
LIFE = [
    (1, "PENDING", "RUNNING"),
    (2, "RUNNING", "RUNNING"),
    (3, "RUNNING", "STOPPED"),
    (4, "STOPPING", "STOPPED"),
    (5, "DEPROVISIONING", "STOPPED"),
    (6, "STOPPED", "STOPPED"),
]


def test_it_sends_one_event_per_change_of_a_task_with_its_version_up_by_one(sim: EcsSimulator) -> None:
    received, counts = job_lifetime(sim, Delivery(delay_seconds=1.0, jitter_seconds=0.0))
    assert statuses(received) == LIFE
    start = sim.clock.start
    assert [round(at - start, 3) for at, _ in received] == [1.0, 1.0, 101.0, 101.0, 106.0, 108.0]
    (_, stopped) = received[-1]
    task_arn = stopped["detail"]["taskArn"]
    assert stopped["detail"]["stoppedReason"] == "Stopped by user" and stopped["detail"]["stoppedAt"].endswith("Z")
    assert stopped["detail"]["group"] == "family:job" and stopped["resources"] == [stopped["detail"]["taskArn"]]
    assert (counts.matched, counts.delivered, counts.duplicated, counts.lost) == (6, 6, 0, 0)
    (described,) = boto3.client("ecs", region_name=REGION).describe_tasks(cluster="web", tasks=[task_arn])["tasks"]
    assert described["version"] == 6  # DescribeTasks reports the version of the last event


def test_it_delivers_a_duplicate_with_the_same_version_a_minute_later(sim: EcsSimulator) -> None:
    received, counts = job_lifetime(sim, Delivery(jitter_seconds=0.0, duplicate_share=1.0))
    assert (counts.matched, counts.delivered, counts.duplicated) == (6, 12, 6)
    by_version: dict[int, list[float]] = {}
    for at, event in received:
        by_version.setdefault(event["detail"]["version"], []).append(at)
    assert all(len(times) == 2 and times[1] - times[0] == 60.0 for times in by_version.values())
    assert len({e["id"] for _, e in received}) == 6  # a copy is the same event


def test_it_delivers_events_out_of_order_that_their_version_puts_back_in_order(sim: EcsSimulator) -> None:
    received, counts = job_lifetime(sim, Delivery(delay_seconds=0.0, jitter_seconds=30.0, seed=3))
    assert counts.delivered == 6
    assert statuses(received) != LIFE  # PENDING and RUNNING, a moment apart, swapped
    assert sorted(statuses(received)) == LIFE


def test_it_never_delivers_a_lost_event_and_counts_it(sim: EcsSimulator) -> None:
    received, counts = job_lifetime(sim, Delivery(lost_share=1.0))
    assert received == [] and (counts.matched, counts.lost, counts.delivered) == (6, 6, 0)


def test_it_delivers_only_what_the_rule_matches_and_nothing_after_the_rule_is_deleted(sim: EcsSimulator) -> None:
    bus = EventBus(sim, ACCOUNT, REGION)
    stopped_only = {**ON_THE_CLUSTER, "detail": {"lastStatus": ["STOPPED"]}}
    received: list[dict[str, Any]] = []
    counts = bus.put_rule("stops", stopped_only, received.append, Delivery(delay_seconds=10.0, jitter_seconds=0.0))
    (instance,) = sim.instances
    first = sim.run_standalone(instance, "job", cpu=256, memory=256)
    sim.stop(first, "Stopped by user")
    sim.clock.advance(60)
    second = sim.run_standalone(instance, "job", cpu=256, memory=256)
    sim.stop(second, "Stopped by user")
    sim.clock.advance(8)  # STOPPED at +7 s, to be delivered at +17 s
    bus.delete_rule("stops")
    sim.clock.advance(60)
    assert [e["detail"]["taskArn"] for e in received] == [first]
    assert (counts.matched, counts.delivered) == (2, 1)
