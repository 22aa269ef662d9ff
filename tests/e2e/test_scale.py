"""Case 17: 1,000 target instances in a 5,000-instance cluster, within the ECS API limits, with a small state."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from ecs_drain.aws import ecs_calls
from ecs_drain.aws.sweeps import Claimed, Later, SharedSweeps, Sweep
from emulation.ecs_simulator import ServiceSpec
from emulation.scenarios import World, rollover_world, services
from emulation.throttling import CLUSTER_READ, busiest_second
from tests.e2e.helpers import executions, history

TARGETS, CLUSTER = 1000, 5000
STACKS = 6


@pytest.mark.slow
def test_it_drains_1000_targets_in_a_5000_instance_cluster_within_the_limits() -> None:
    services = [
        ServiceSpec(f"svc{n}", cpu=256, memory=256, desired=CLUSTER // 10, deregistration_delay=30) for n in range(10)
    ]
    with rollover_world(
        old_instances=TARGETS,
        new_instances=CLUSTER - TARGETS,
        new_fleet_registers=None,
        services=services,
        log_level="WARNING",
    ) as world:
        request = world.cfn.request("Delete", "ECSDrain", world.properties, physical_id=world.physical_id)
        world.cfn.send(request)
        answer = world.cfn.wait_for_answer(request, wall_seconds=900)
        assert answer is not None and answer.body["Status"] == "SUCCESS"
        assert f"Drained {TARGETS} container instances" in answer.body["Reason"]
        # every call stayed within the API limits the emulation enforces (a call beyond one fails the step)
        assert not [i for i in world.aws.invocations if i.error]
        checks = [i for i in world.aws.invocations if i.function == "DrainFunction" and i.action == "check"]
        # after the first check, a check costs ceil(pending/100) describes plus a few per instance reaching zero,
        # and never lists the cluster
        for later in checks[1:]:
            assert later.calls["ecs:ListContainerInstances"] == 0
            assert later.calls["ecs:DescribeContainerInstances"] <= math.ceil(TARGETS / 100)
        (execution,) = executions(world)
        sizes = [
            len(json.dumps(e.get(k, {})))
            for e in history(world, execution["executionArn"])
            for k in ("stateEnteredEventDetails", "stateExitedEventDetails")
        ]
        assert max(sizes) < 64_000
        assert world.sim.record.killed == []


@contextmanager
def six_stacks_drained(old_instances: int, wall_seconds: float) -> Iterator[World]:
    """Six consumer stacks of `old_instances` each replaced together in one cluster of 200 others, each answered
    SUCCESS only once every task on its own fleet is STOPPED."""
    with rollover_world(
        old_instances=old_instances,
        new_instances=200,
        new_fleet_registers=None,
        other_old_fleets=STACKS - 1,
        services=services(200, 1, deregistration_delay=60),
        log_level="WARNING",
        create=False,
    ) as world:
        fleets = [world.old, *world.others]
        _, answers = world.drain_stacks_at_once(wall_seconds=wall_seconds)
        for fleet, answer in zip(fleets, answers, strict=True):
            assert answer is not None and answer.body["Status"] == "SUCCESS"
            stopped = [t.stopped_at for t in world.sim.tasks.values() if t.instance_id in set(fleet.container_ids)]
            assert stopped and all(s is not None and s <= answer.at for s in stopped)
        yield world


def test_it_drains_six_stacks_at_once_within_one_budget_each_answering_only_once_its_tasks_are_stopped() -> None:
    """Six consumer stacks replaced together in one cluster: one schedule for all their ECS calls (at most 10 cluster
    reads a second together, none throttled), and no drain answers before every task on its own fleet is STOPPED."""
    with six_stacks_drained(old_instances=10, wall_seconds=300) as world:
        reads = world.aws.calls.ecs_calls("DrainFunction", CLUSTER_READ)
        assert busiest_second([c.at for c in reads]) <= 10
        assert not [c for c in world.aws.calls.ecs_calls("DrainFunction") if c.throttled]
        assert world.aws.refused["DrainFunction"] == 0  # nothing holds a drain's step back any more


def test_it_shares_one_sweep_of_the_cluster_between_drains_that_looked_before_it_began(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Six drains of one cluster list their emptied instances by a sweep of its stopping tasks: where one drain's
    sweep began after another saw its instances empty, that one reads it (or waits for it) instead of sweeping."""
    swept, served = [], []
    sweep, claim = ecs_calls.cluster_stopping_tasks, SharedSweeps.claim

    def counted_sweep(*args: Any) -> list[str] | None:
        swept.append(args)
        return sweep(*args)

    def counted_claim(self: SharedSweeps, *args: Any) -> Sweep | Claimed | Later | None:
        found = claim(self, *args)
        served.extend([found] if isinstance(found, Sweep) else [])
        return found

    monkeypatch.setattr(ecs_calls, "cluster_stopping_tasks", counted_sweep)
    monkeypatch.setattr(SharedSweeps, "claim", counted_claim)
    with six_stacks_drained(old_instances=40, wall_seconds=600):
        pass
    assert swept and served  # some drain listed its instances from another's sweep, reading none of its own
