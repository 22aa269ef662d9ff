"""Placement judged as ECS judges it, end to end: constraints the new fleet meets pass and drain; a rule the model
cannot judge never fails a preflight or holds a drain; the drain's room gate and the preflight agree at 1,000
targets."""

from __future__ import annotations

import json

import pytest

from ecs_drain_cli.main import main
from emulation import strategies
from emulation.catalog import SCENARIOS, world_options
from emulation.ecs_simulator import ServiceSpec
from emulation.scenarios import default_services, rollover_world

from .helpers import drains, preflights


def test_it_passes_and_drains_services_placed_by_regex_list_and_task_group_constraints() -> None:
    with rollover_world(log_level="WARNING", **world_options(SCENARIOS["constraints"])) as world:
        run = strategies.run(world, "constraints", "ecs-drain", {})
        assert run.stack_status == "UPDATE_COMPLETE"
        assert run.failed == 0 and run.old_tasks_killed == 0
        assert all(i not in world.sim.instances for i in world.old.container_ids)  # drained, then deleted
        (preflight,) = preflights(world)
        room = {r["service"]: (r["tasks"], r["placed"]) for r in json.loads(preflight["output"])["services"]}
        assert room == {"web": (6, 6), "worker": (3, 3), "cache": (3, 3)}
        # ECS placed every cache task beside a web task, as the task-group constraint asks.
        for task in world.sim.service_tasks("cache"):
            beside = {world.sim.tasks[a].service for a in world.sim.by_instance[task.instance_id]}
            assert "web" in beside


def test_it_passes_and_drains_where_room_comes_from_a_capacity_provider_scaling_out() -> None:
    with rollover_world(log_level="WARNING", **world_options(SCENARIOS["scaling"])) as world:
        update, answer = world.rollover()
        assert update is not None
        assert update.body["Status"] == "SUCCESS", update.body["Reason"]
        assert "room comes from scaling out" in update.body["Reason"] and "service web" in update.body["Reason"]
        assert answer is not None and answer.body["Status"] == "SUCCESS"
        assert world.sim.record.killed == []
        # 9 tasks (3,072 CPU units) need two instances of 1,920 free: the group grew from one to two.
        assert len(world.sim.scaled_out[world.new.request_id if world.new else ""]) == 1
        assert any("scales" in what and "out" in what for _, what in world.sim.record.events)


JAVA_ONLY = r"attribute:ecs.instance-type =~ \p{Lower}\d\.large"  # Java's POSIX class: Python cannot read it


def test_it_neither_fails_the_preflight_nor_holds_the_drain_on_a_constraint_it_cannot_judge() -> None:
    odd = ServiceSpec(
        "odd",
        cpu=256,
        memory=256,
        desired=3,
        min_healthy_percent=50,
        placement_constraints=[{"type": "memberOf", "expression": JAVA_ONLY}],
    )
    with rollover_world(log_level="WARNING", services=[*default_services(), odd]) as world:
        update, answer = world.rollover()
        assert update is not None
        assert update.body["Status"] == "SUCCESS", update.body["Reason"]
        assert "Warning" in update.body["Reason"] and "could not be judged" in update.body["Reason"]
        assert "service odd" in update.body["Reason"]
        assert answer is not None and answer.body["Status"] == "SUCCESS"
        assert "Drained 3 container instances" in answer.body["Reason"]
        assert "placement could not be judged" in answer.body["Reason"]
        assert world.sim.record.killed == []
        (drain,) = drains(world)
        output = json.loads(drain["output"])
        assert output["seconds"] < 900  # nowhere near its 55-minute deadline
        assert [f["cause"] for f in output["diagnosis"]] == ["NOT_JUDGED"]


TARGETS = 1000


@pytest.mark.slow
def test_it_gives_the_preflights_verdict_in_the_drains_room_gate_at_1000_targets(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """1,000 old instances with tier=old, 200 others without: `tiered` can go nowhere, by its constraint, though
    CPU and memory abound. The preflight's check says so; the drain's gate holds, placing task by task, until its
    deadline (the gate's verdict is a wait for room, not a block: a fleet may still be registering)."""
    tiered = ServiceSpec(
        "tiered",
        cpu=128,
        memory=128,
        desired=TARGETS,
        min_healthy_percent=50,
        placement_constraints=[{"type": "memberOf", "expression": "attribute:tier == old"}],
    )
    plain = ServiceSpec("plain", cpu=128, memory=128, desired=TARGETS, min_healthy_percent=50)
    with rollover_world(
        old_instances=TARGETS,
        new_instances=200,
        new_fleet_registers=None,
        services=[plain, tiered],
        old_attributes={"tier": "old"},
        log_level="WARNING",
    ) as world:
        code = main(["check", "--cluster", "web", "--spot-fleet", world.old.request_id])
        out = " ".join(capsys.readouterr().out.split())
        assert code == 1 and "service tiered" in out and "memberOf(attribute:tier == old)" in out
        # The drain's gate, placing its 1,000 targets' tasks one by one, holds for the same service and rule (it says
        # so once the 300 s a new fleet may take to register have passed).
        _, answer = world.drain_old(wall_seconds=600, OnTimeout="FAIL", DrainTimeoutSeconds="330")
        assert answer is not None and answer.body["Status"] == "FAILED"
        reason = answer.body["Reason"]
        assert (
            "placed task by task, service tiered: no remaining instance satisfies memberOf(attribute:tier == old)"
            in reason
        )
        assert world.sim.record.draining_set_at == {}  # the gate never opened
        assert world.sim.record.killed == []
