"""End to end on the offline emulation: the real template, ASL and handlers drain an AMI rollover."""

from __future__ import annotations

from emulation.scenarios import rollover_world
from tests.e2e.helpers import assert_no_secret_leaked, executions, old_tasks_not_stopped


def test_it_drains_a_rollover_and_answers_cloudformation_once() -> None:
    with rollover_world() as world:
        update, answer = world.rollover()
        assert update is not None and update.body["Status"] == "SUCCESS"
        assert update.body["PhysicalResourceId"] != world.physical_id
        assert answer is not None and answer.body["Status"] == "SUCCESS", answer
        assert answer.body["PhysicalResourceId"] == world.physical_id
        assert "Drained 3 container instances" in answer.body["Reason"]
        # exactly one answer per request, whatever happened
        assert all(len(world.server.answers_for(a.request_id)) == 1 for a in world.server.answers)
        # no task was killed with its instance, and no service fell below its minimum healthy count
        assert world.sim.record.killed == []
        assert world.sim.record.lowest_healthy["web"] >= 6
        assert world.sim.record.lowest_healthy["worker"] >= 2
        (execution,) = executions(world)
        assert execution["status"] == "SUCCEEDED"
        assert_no_secret_leaked(world)


def test_it_answers_only_after_the_last_task_reached_stopped() -> None:
    with rollover_world() as world:
        sent_at = world.aws.clock.now()
        _, answer = world.rollover()
        assert answer is not None
        stopped = [t.stopped_at for t in world.sim.tasks.values() if t.instance_id in world.old.container_ids]
        assert all(s is not None for s in stopped)
        last_stop = max(s for s in stopped if s is not None)
        # the web tasks spend 120 s DEACTIVATING: the answer must not come before they are STOPPED
        assert answer.at >= last_stop
        assert answer.at - last_stop <= 15 + 1  # detected within one poll interval
        assert answer.at - sent_at > 120


def test_it_returns_from_delete_without_answering_and_starts_one_execution() -> None:
    with rollover_world(new_fleet_registers=None) as world:
        delete = world.cfn.request("Delete", "ECSDrain", world.properties, physical_id=world.physical_id)
        started = world.cfn.send(delete)
        assert started is not None and "executionArn" in started
        answer = world.cfn.wait_for_answer(delete)
        assert answer is not None and answer.at > world.aws.clock.start + 120
        assert len(executions(world)) == 1
        assert old_tasks_not_stopped(world) == 0


def test_it_reports_the_drain_in_the_execution_output() -> None:
    import json

    with rollover_world() as world:
        world.rollover()
        (execution,) = executions(world)
        summary = json.loads(execution["output"])
        assert summary["outcome"] == "DRAINED"
        assert summary["instances"] == 3
        assert summary["tasksAtStart"] == 12
        assert summary["phaseSeconds"]["waitingForCapacity"] > 0
        assert summary["answeredCloudFormation"] is True


def test_it_stays_within_the_ecs_api_limits_and_counts_calls() -> None:
    with rollover_world() as world:
        world.rollover()
        calls = world.aws.calls.by_action(caller="DrainFunction")
        assert calls["ecs:UpdateContainerInstancesState"] == 1
        assert not [i for i in world.aws.invocations if i.error]
        assert world.aws.calls.by_action(caller="CustomResourceFunction")["stepfunctions:StartExecution"] == 1


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
