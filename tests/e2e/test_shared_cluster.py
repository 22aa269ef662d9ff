"""Two consumer stacks whose fleets share one cluster, rolled at once: room is claimed once.

The cluster: stack A's old fleet and stack B's old fleet, 3 instances each (2048 CPU units: 4 tasks of 512 each),
serving one service of 16 tasks (about 8 on each). Each stack replaces its fleet in one Update, both at once.
"""

from __future__ import annotations

import json
from functools import partial
from typing import Any

import pytest

from ecs_drain.aws.room_claims import RoomBook
from emulation.ecs_simulator import ServiceSpec
from emulation.scenarios import ConsumerStack, World, at_once, rollover_world
from tests.e2e.helpers import executions

SIZE = (2048, 3840)


def web() -> list[ServiceSpec]:
    return [ServiceSpec("web", cpu=512, memory=512, desired=16, min_healthy_percent=50, max_percent=200)]


def running(world: World) -> int:
    return sum(1 for t in world.sim.tasks.values() if t.service == "web" and t.last == "RUNNING")


def preflight_of(world: World, consumer: ConsumerStack) -> dict[str, Any]:
    [execution] = [
        e for e in executions(world) if e["name"].startswith(consumer.cfn.stack_name) and "-preflight-" in e["name"]
    ]
    return dict(json.loads(execution["output"]))


def test_it_rolls_back_the_rollover_whose_tasks_have_nowhere_to_go_naming_the_other_and_lets_the_other_pass() -> None:
    """A's new fleet (3 instances) holds A's tasks; B's (one instance of half the size: 2 tasks) cannot hold B's,
    and without B's old fleet and A's new one (another rollover's: it may go) nothing else can. Counting them, as
    each preflight did before, both passed and the two cleanups left 14 places for 16 tasks."""
    with rollover_world(services=web(), other_old_fleets=1, new_fleet_registers=(45.0, 60.0)) as world:
        a, b = world.consumer(), world.second_stack(new_instances=1, size=(1024, 1920))
        (a_update, a_delete), (b_update, b_delete) = world.roll_at_once([a, b])
        assert a_update is not None and a_update.body["Status"] == "SUCCESS", a_update
        assert a_delete is not None and a_delete.body["Status"] == "SUCCESS", a_delete
        assert b_update is not None and b_update.body["Status"] == "FAILED", b_update
        assert b_delete is None  # rolled back: B's old fleet stays, its new one is deleted
        said = b_update.body["Reason"]
        assert "service web" in said and f"the rollover from SpotFleet {a.old.request_id}" in said, said
        assert world.aws.wait_for_executions(60)
        world.sim.run_until(world.aws.clock.now() + 300)
        assert running(world) == 16  # no task lost: every one runs on A's new fleet or B's old one
        assert preflight_of(world, a)["outcome"] == "PREFLIGHT_PASSED"


def test_it_would_lose_tasks_in_that_cluster_were_the_claims_not_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same rollovers with no claim kept (each preflight counting the other's fleets as room, as before): both
    pass, both drain, and two of the 16 tasks have nowhere to run. What the first test guards against is real."""
    monkeypatch.setattr(RoomBook, "from_environment", classmethod(lambda cls, dynamodb: None))
    with rollover_world(services=web(), other_old_fleets=1, new_fleet_registers=(45.0, 60.0)) as world:
        a, b = world.consumer(), world.second_stack(new_instances=1, size=(1024, 1920))
        for update, delete in world.roll_at_once([a, b]):
            assert update is not None and update.body["Status"] == "SUCCESS", update
            assert delete is not None and delete.body["Status"] == "SUCCESS", delete
        world.sim.run_until(world.aws.clock.now() + 300)
        assert running(world) == 14


def test_it_passes_and_drains_both_rollovers_where_each_new_fleet_holds_its_own_tasks() -> None:
    with rollover_world(services=web(), other_old_fleets=1, new_fleet_registers=(45.0, 60.0)) as world:
        a, b = world.consumer(), world.second_stack(new_instances=3, size=SIZE)
        for update, delete in world.roll_at_once([a, b]):
            assert update is not None and update.body["Status"] == "SUCCESS", update
            assert delete is not None and delete.body["Status"] == "SUCCESS", delete
            assert delete.body["Reason"].startswith("Drained"), delete.body["Reason"]
        world.sim.run_until(world.aws.clock.now() + 300)
        assert running(world) == 16


def two_drains_one_spare() -> Any:
    """Two stacks' old fleets (3 instances of 2 places each) full with 12 tasks: 6 on each, whatever the placement.
    Drained at once, with one spare instance of 6 places added after the services settled: room for one drain's
    tasks, not both."""
    return rollover_world(
        services=[ServiceSpec("web", cpu=512, memory=512, desired=12, min_healthy_percent=50, max_percent=200)],
        instance_cpu=1024,
        other_old_fleets=1,
        new_instances=1,
        new_instance_size=(3072, 7680),
        new_fleet_registers=(1.0, 1.0),
        properties={"DrainTimeoutSeconds": "300", "OnTimeout": "FAIL"},
    )


def test_it_never_sets_two_drains_draining_on_the_strength_of_the_same_spare_instance() -> None:
    with two_drains_one_spare() as world:
        _, answers = world.drain_stacks_at_once(wall_seconds=300)
        fleets = [world.old, *world.others]
        set_draining = [f for f in fleets if any(i in world.sim.record.draining_set_at for i in f.container_ids)]
        assert len(set_draining) == 1, [f.request_id for f in set_draining]
        statuses = sorted(a.body["Status"] for a in answers if a is not None)
        assert statuses == ["FAILED", "SUCCESS"], statuses
        [waited] = [a for a in answers if a is not None and a.body["Status"] == "FAILED"]
        assert waited.body["Reason"].startswith("Deadline reached")
        assert "Busy instances were not set DRAINING: spare capacity never became enough" in waited.body["Reason"]
        world.sim.run_until(world.aws.clock.now() + 120)
        assert running(world) == 12


def test_it_rolls_back_both_fleets_of_one_stack_when_one_cannot_take_its_tasks_and_loses_none() -> None:
    """The same two fleets, both of one stack (on-demand and Spot, say) replaced by one Update: the second one's
    preflight fails as above, so CloudFormation rolls the whole Update back, the first fleet's replacement included
    (its Delete drains the new fleet back onto the old ones before it goes)."""
    with rollover_world(services=web(), other_old_fleets=1, new_fleet_registers=(45.0, 60.0)) as world:
        a, b = world.consumer(), world.second_stack(new_instances=1, size=(1024, 1920), same_stack=True)
        (a_update, a_delete), (b_update, b_delete) = world.roll_one_stack([a, b])
        assert a_update is not None and a_update.body["Status"] == "SUCCESS", a_update
        assert b_update is not None and b_update.body["Status"] == "FAILED", b_update
        assert f"the rollover from SpotFleet {a.old.request_id}" in b_update.body["Reason"]
        assert a_delete is None and b_delete is None and world.cfn.status == "UPDATE_ROLLBACK_COMPLETE"
        assert world.aws.wait_for_executions(60)
        world.sim.run_until(world.aws.clock.now() + 300)
        assert running(world) == 16 and not world.sim.record.killed


def test_it_passes_and_drains_both_fleets_of_one_stack_where_each_new_fleet_holds_its_own_tasks() -> None:
    with rollover_world(services=web(), other_old_fleets=1, new_fleet_registers=(45.0, 60.0)) as world:
        a, b = world.consumer(), world.second_stack(new_instances=3, size=SIZE, same_stack=True)
        for update, delete in world.roll_one_stack([a, b]):
            assert update is not None and update.body["Status"] == "SUCCESS", update
            assert delete is not None and delete.body["Reason"].startswith("Drained"), delete
        assert world.cfn.status == "UPDATE_COMPLETE"
        world.sim.run_until(world.aws.clock.now() + 300)
        assert running(world) == 16 and not world.sim.record.killed


def test_it_answers_two_stacks_updates_at_once_each_with_its_own_id() -> None:
    """crhelper keeps the request it answers on its instance: one per Lambda container. Two stacks' Updates handled
    at once (the preflight off: crhelper answers them) must not answer with each other's ids, or not at all."""
    with rollover_world(services=web(), other_old_fleets=1, new_fleet_registers=(45.0, 60.0)) as world:
        a, b = world.consumer(), world.second_stack(new_instances=1, size=SIZE)
        for _ in range(5):
            answers = _at_once_updates([a, b])
            for consumer, answer in zip([a, b], answers, strict=True):
                assert consumer.new is not None and answer is not None and answer.body["Status"] == "SUCCESS"
                assert consumer.new.request_id in answer.body["PhysicalResourceId"], (consumer.cfn.stack_name, answer)
                assert answer.body["StackId"] == consumer.cfn.stack_id


def _at_once_updates(consumers: list[ConsumerStack]) -> list[Any]:
    def update(consumer: ConsumerStack) -> Any:
        assert consumer.new is not None
        new = {**consumer.properties, consumer.new.kind: consumer.new.request_id, "Preflight": "OFF"}
        return consumer.cfn.update(consumer.logical_id, consumer.properties, new, consumer.physical_id)[1]

    return at_once([partial(update, c) for c in consumers])
