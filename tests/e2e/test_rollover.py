"""End to end on the offline emulation: the real template, ASL and handlers drain an AMI rollover."""

from __future__ import annotations

from emulation.scenarios import rollover_world
from tests.e2e.helpers import executions, old_tasks_not_stopped


def test_it_returns_from_delete_without_answering_and_starts_one_execution() -> None:
    with rollover_world(new_fleet_registers=None) as world:
        delete = world.cfn.request("Delete", "ECSDrain", world.properties, physical_id=world.physical_id)
        started = world.cfn.send(delete)
        returned_at = world.aws.clock.now()
        assert started is not None and "executionArn" in started
        # Nothing answered while the handler ran: its answer comes later, from the state machine.
        assert [a for a in world.server.answers_for(delete.request_id) if a.at <= returned_at] == []
        answer = world.cfn.wait_for_answer(delete)
        assert answer is not None and answer.at > world.aws.clock.start + 120
        assert len(executions(world)) == 1
        assert old_tasks_not_stopped(world) == 0


def test_it_sets_empty_targets_draining_at_once_so_nothing_lands_on_them() -> None:
    from emulation.scenarios import services

    with rollover_world(
        old_instances=10, new_instances=10, new_fleet_registers=None, services=services(10, 1)
    ) as world:
        assert any(not world.sim.by_instance[i] for i in world.old.container_ids)  # some targets start empty
        _, answer = world.drain_old()
        assert answer is not None and answer.body["Status"] == "SUCCESS"
        assert old_tasks_not_stopped(world) == 0
        assert all(world.sim.instances[i].status == "DRAINING" for i in world.old.container_ids)
