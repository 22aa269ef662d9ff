"""The fault and bad-input matrix (docs/reliability.md): each case a named end-to-end test on the emulation (those
the custom resource's handler answers alone, with no execution, are unit tests in tests/unit/test_handlers.py).

Whatever happens, CloudFormation gets exactly one answer per request, and never a wrong SUCCESS.
"""

from __future__ import annotations

import json
import socket
import threading
from typing import Any

import boto3
import pytest

from ecs_drain.decisions import rule
from ecs_drain.steps import draining
from ecs_drain.steps.census import Census
from ecs_drain.steps.census import count as census_count
from emulation.cloudformation import Answer, Endpoint, Request
from emulation.scenarios import World, rollover_world, services
from tests.e2e.helpers import assert_no_secret_leaked, executions, old_tasks_not_stopped


def drain(world: World, **policy: Any) -> tuple[Request, Answer | None]:
    return world.drain_old(**policy)


def answers(world: World, request: Any) -> list[Any]:
    return world.server.answers_for(request.request_id)


# 4 -------------------------------------------------------------------------------------------------------
def test_it_answers_nothing_to_drain_for_a_fleet_that_is_gone() -> None:
    with rollover_world(new_instances=0) as world:
        world.properties["SpotFleet"] = "sfr-0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"
        _, answer = drain(world)
        assert answer is not None
        assert answer.body["Status"] == "SUCCESS"
        assert "no longer exists: nothing to drain" in answer.body["Reason"]


def test_it_answers_nothing_to_drain_for_a_fleet_without_instances() -> None:
    with rollover_world(new_instances=0) as world:
        ec2 = boto3.client("ec2", region_name="us-east-1")
        ec2.modify_spot_fleet_request(SpotFleetRequestId=world.old.request_id, TargetCapacity=0)
        assert ec2.describe_spot_fleet_instances(SpotFleetRequestId=world.old.request_id)["ActiveInstances"] == []
        _, answer = drain(world)
        assert answer is not None
        assert answer.body["Status"] == "SUCCESS"
        assert f"SpotFleet {world.old.request_id} has no running instances: nothing to drain." in answer.body["Reason"]


def test_it_answers_nothing_to_drain_when_the_instances_never_registered() -> None:
    with rollover_world(new_instances=3, new_fleet_fault="agent") as world:
        assert world.new is not None
        world.properties["SpotFleet"] = world.new.request_id
        _, answer = drain(world)
        assert answer is not None
        assert answer.body["Status"] == "SUCCESS"
        assert "is registered in web: nothing to drain" in answer.body["Reason"]


# 5 -------------------------------------------------------------------------------------------------------
def test_it_answers_success_when_the_cluster_was_deleted_first() -> None:
    with rollover_world(new_instances=0) as world:
        del world.sim.backend.clusters["web"]
        _, answer = drain(world)
        assert answer is not None
        assert answer.body["Status"] == "SUCCESS"
        assert "Cluster web no longer exists" in answer.body["Reason"]


# 6 -------------------------------------------------------------------------------------------------------
def test_it_starts_one_execution_and_answers_once_for_a_delete_delivered_three_times() -> None:
    with rollover_world() as world:
        request = world.cfn.request("Delete", "ECSDrain", world.properties, physical_id=world.physical_id)
        threads = [threading.Thread(target=world.cfn.send, args=(request,)) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        answer = world.cfn.wait_for_answer(request)
        assert len(executions(world)) == 1  # and it has ended
        world.cfn.send(request)  # once more after it was answered
        assert answer is not None and answer.body["Status"] == "SUCCESS"
        assert len(executions(world)) == 1
        assert len(answers(world, request)) == 1
        # The repeat stored the ResponseURL before Step Functions said the drain had ended: it is deleted again.
        assert boto3.client("ssm", region_name="us-east-1").describe_parameters()["Parameters"] == []


# 7 -------------------------------------------------------------------------------------------------------
def test_it_completes_with_half_of_all_ecs_calls_throttled() -> None:
    with rollover_world() as world:
        world.faults.ecs_throttle_share = 0.5
        _, answer = world.rollover()
        assert answer is not None and answer.body["Status"] == "SUCCESS"
        assert world.aws.calls.throttled > 10
        assert world.sim.record.killed == []


# 8 -------------------------------------------------------------------------------------------------------
def test_it_retries_a_drain_function_that_crashes_once() -> None:
    with rollover_world() as world:
        world.aws.crashes["DrainFunction"] = lambda n: n == 3
        _, answer = world.rollover()
        assert answer is not None and answer.body["Status"] == "SUCCESS"
        assert [i.error for i in world.aws.invocations if i.error] == ["LambdaCrash"]


@pytest.mark.parametrize(("policy", "status"), [("CONTINUE", "SUCCESS"), ("FAIL", "FAILED")])
def test_it_answers_once_per_on_timeout_when_the_drain_function_always_crashes(policy: str, status: str) -> None:
    """A crash of ours is tried again until the deadline, never answered early; then OnTimeout applies."""
    with rollover_world() as world:
        world.aws.crashes["DrainFunction"] = lambda n: True
        asked = world.aws.clock.now()
        request, answer = drain(world, OnTimeout=policy, DrainTimeoutSeconds="600")
        assert answer is not None and answer.body["Status"] == status
        assert answer.at - asked >= 600  # not before the deadline
        # It crashed from the first step on: no drain was ever planned.
        assert "Deadline reached before the drain could start: Runtime.ExitError" in answer.body["Reason"]
        assert len(answers(world, request)) == 1
        (execution,) = executions(world)
        assert execution["status"] == "SUCCEEDED"  # it ended as a drain at its deadline does


def test_it_drains_through_a_step_held_back_longer_than_sixty_tries() -> None:
    """Ten minutes of Lambda refusing the drain step (429: the account's concurrency used up) outlast the 60 tries
    the state machine once allowed: the drain still waits for every task, then answers SUCCESS."""
    with rollover_world() as world:
        start = world.aws.clock.now()
        world.aws.held_back["DrainFunction"] = lambda now: start + 30 <= now < start + 630
        _, answer = world.rollover()
        assert answer is not None and answer.body["Status"] == "SUCCESS"
        assert "Drained" in answer.body["Reason"]
        assert world.aws.refused["DrainFunction"] > 60
        assert answer.at >= start + 630  # answered only after the steps could run again
        assert old_tasks_not_stopped(world) == 0 and world.sim.record.killed == []


# 9 -------------------------------------------------------------------------------------------------------
def test_it_answers_once_and_promptly_when_the_execution_is_stopped_mid_drain() -> None:
    with rollover_world() as world:
        stopped_at: list[float] = []

        def stop_from_console() -> None:
            sfn = world.aws.sfn()
            for execution in sfn.list_executions(stateMachineArn=world.aws.state_machine_arn, statusFilter="RUNNING")[
                "executions"
            ]:
                sfn.stop_execution(executionArn=execution["executionArn"], cause="operator")
                stopped_at.append(world.aws.clock.now())

        world.sim.at(world.aws.clock.now() + 100, stop_from_console)
        request, answer = drain(world, OnTimeout="FAIL")
        assert answer is not None and answer.body["Status"] == "FAILED"
        assert "ended ABORTED" in answer.body["Reason"]
        assert answer.at - stopped_at[0] <= 15 + 1  # the Wait it was in, then the answer's own calls
        assert len(answers(world, request)) == 1
        assert executions(world)[0]["status"] == "ABORTED"


# 10 ------------------------------------------------------------------------------------------------------
def test_it_answers_once_through_server_errors_and_resets() -> None:
    with rollover_world() as world:
        request = world.cfn.request("Delete", "ECSDrain", world.properties, physical_id=world.physical_id)
        world.server.endpoints[request.request_id] = Endpoint(script=["500", "reset"])
        world.cfn.send(request)
        answer = world.cfn.wait_for_answer(request)
        assert answer is not None and answer.body["Status"] == "SUCCESS"
        assert len(answers(world, request)) == 1
        assert world.server.endpoints[request.request_id].attempts == 3


def test_it_fails_visibly_and_boundedly_when_the_response_url_refuses_forever() -> None:
    with rollover_world() as world:
        request = world.cfn.request("Delete", "ECSDrain", world.properties, physical_id=world.physical_id)
        world.server.endpoints[request.request_id] = Endpoint(forever="403")
        world.cfn.send(request)
        assert world.cfn.wait_for_answer(request) is None
        (execution,) = executions(world)
        assert execution["status"] == "FAILED"
        assert execution["error"] == "AnswerNotDelivered"
        output = "".join(world.aws.output)
        assert "Could not answer CloudFormation" in output
        assert '"AnswerFailures"' in output
        # the state machine tries once (4xx is not retried), the execution-ended rule once more, then nobody
        assert world.server.endpoints[request.request_id].attempts == 2
        assert_no_secret_leaked(world)


# 11 ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("policy", "status"), [("CONTINUE", "SUCCESS"), ("FAIL", "FAILED")])
def test_it_follows_on_timeout_at_the_deadline_and_names_what_still_runs(policy: str, status: str) -> None:
    with rollover_world(standalone=[(1, None)]) as world:
        request, answer = drain(world, DrainTimeoutSeconds="600", OnTimeout=policy)
        assert answer is not None and answer.body["Status"] == status
        ec2 = world.sim.ec2_id(world.old.container_ids[1])
        assert f"Still running: {ec2} (DRAINING): 1 task" in answer.body["Reason"]
        assert 600 <= answer.at - world.aws.clock.start - 120 <= 600 + 30
        assert len(answers(world, request)) == 1


# 12 ------------------------------------------------------------------------------------------------------
def test_it_waits_for_a_standalone_task_when_told_to_wait() -> None:
    with rollover_world(standalone=[(0, 900.0)]) as world:
        start = world.aws.clock.now()
        _, answer = drain(world, StandaloneTasks="WAIT")
        assert answer is not None and answer.body["Status"] == "SUCCESS"
        assert answer.at - start >= 900
        assert old_tasks_not_stopped(world) == 0


def test_it_stops_a_standalone_task_when_told_to_stop() -> None:
    with rollover_world(standalone=[(0, None)]) as world:
        _, answer = drain(world, StandaloneTasks="STOP")
        assert answer is not None and answer.body["Status"] == "SUCCESS"
        summary = json.loads(executions(world)[0]["output"])
        assert summary["standaloneTasksStopped"] == 1


# 13 ------------------------------------------------------------------------------------------------------
def test_it_lets_daemon_tasks_stop_last_and_completes() -> None:
    with rollover_world() as world:
        _, answer = drain(world)
        assert answer is not None and answer.body["Status"] == "SUCCESS"
        for instance in world.old.container_ids:
            tasks = [world.sim.tasks[a] for a in world.sim.by_instance[instance]]
            daemons = [t for t in tasks if t.service == "log-agent"]
            others = [t for t in tasks if t.service != "log-agent"]
            assert daemons and others
            assert min(d.stop_requested_at or 0 for d in daemons) >= max(o.stopped_at or 0 for o in others)


# 14 ------------------------------------------------------------------------------------------------------
def test_it_does_not_answer_while_tasks_are_deactivating_or_stopping() -> None:
    with rollover_world() as world:
        _, answer = drain(world)
        assert answer is not None
        web = [t for t in world.sim.tasks.values() if t.service == "web" and t.instance_id in world.old.container_ids]
        assert all(t.stopped_at is not None and t.stop_requested_at is not None for t in web)
        stops = [(t.stop_requested_at, t.stopped_at) for t in web if t.stopped_at is not None and t.stop_requested_at]
        assert len(stops) == len(web)
        assert all(stopped - requested >= 120 for requested, stopped in stops)
        assert answer.at >= max(stopped for _, stopped in stops)


# 15 ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("policy", "status"), [("CONTINUE", "SUCCESS"), ("FAIL", "FAILED")])
def test_it_sets_nothing_draining_without_spare_capacity(policy: str, status: str) -> None:
    with rollover_world(new_instances=0) as world:
        _, answer = drain(world, DrainTimeoutSeconds="600", OnTimeout=policy)
        assert answer is not None and answer.body["Status"] == status
        assert "spare capacity never became enough" in answer.body["Reason"]
        assert world.aws.calls.by_action(caller="DrainFunction")["ecs:UpdateContainerInstancesState"] == 0
        assert all(world.sim.instances[i].status == "ACTIVE" for i in world.old.container_ids)


def test_it_starts_draining_as_soon_as_capacity_appears() -> None:
    with rollover_world(new_fleet_registers=(300.0, 400.0)) as world:
        _, answer = drain(world)
        assert answer is not None and answer.body["Status"] == "SUCCESS"
        summary = json.loads(executions(world)[0]["output"])
        assert 300 <= summary["phaseSeconds"]["waitingForCapacity"] <= 400 + 15


# 16 ------------------------------------------------------------------------------------------------------
def test_it_refuses_a_response_url_that_is_not_https() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    listener.settimeout(0.2)
    try:
        with rollover_world() as world:
            request = world.cfn.request("Delete", "ECSDrain", world.properties, physical_id=world.physical_id)
            request.event["ResponseURL"] = f"http://127.0.0.1:{listener.getsockname()[1]}/answer?X-Amz-Signature=s"
            world.cfn.send(request)
            assert world.cfn.wait_for_answer(request) is None
            output = "".join(world.aws.output)
            assert "Refused a request whose ResponseURL is not https" in output
            assert '"RefusedRequests"' in output
            assert executions(world) == []  # refused before anything started: nothing set DRAINING, nothing kept
            assert all(world.sim.instances[i].status == "ACTIVE" for i in world.old.container_ids)
            assert boto3.client("ssm", region_name="us-east-1").describe_parameters()["Parameters"] == []
            with pytest.raises(TimeoutError):
                listener.accept()  # nobody ever connected
    finally:
        listener.close()


# 17 is in tests/e2e/test_scale.py -----------------------------------------------------------------------


# 18 ------------------------------------------------------------------------------------------------------
def test_it_reports_per_instance_failures_to_set_draining_and_carries_on() -> None:
    with rollover_world() as world:
        world.api.refuse = {world.old.container_ids[0]: 2}
        _, answer = drain(world)
        assert answer is not None and answer.body["Status"] == "SUCCESS"
        problems = world.aws.last_result["DrainFunction"]["drain"]["problems"]
        assert any(world.old.container_ids[0] in p and "ServerException" in p for p in problems)
        assert world.aws.calls.by_action(caller="DrainFunction")["ecs:UpdateContainerInstancesState"] == 3


# 19 ------------------------------------------------------------------------------------------------------
def test_it_counts_an_instance_terminated_mid_drain_as_drained() -> None:
    with rollover_world() as world:
        victim = world.old.container_ids[2]
        world.sim.at(world.aws.clock.now() + 90, lambda: world.sim.terminate_instance(victim))
        _, answer = drain(world)
        assert answer is not None and answer.body["Status"] == "SUCCESS"
        assert "Drained 3 container instances" in answer.body["Reason"]


# 27 ------------------------------------------------------------------------------------------------------
def test_it_makes_no_ecs_call_without_a_slot_and_drains_once_the_schedule_is_back() -> None:
    """The call budget's table unreachable for five minutes: no ECS call is made without a booked slot, the steps
    are tried again (never answered early), and the drain completes once the table answers again."""
    with rollover_world() as world:
        start = world.aws.clock.now()
        down = (start + 20, start + 320)
        world.faults.dynamodb_down = lambda now: down[0] <= now < down[1]
        _, answer = world.rollover()
        assert answer is not None and answer.body["Status"] == "SUCCESS"
        assert "Drained" in answer.body["Reason"] and answer.at >= down[1]
        calls = world.aws.calls.ecs_calls("DrainFunction")
        assert calls and not [c for c in calls if down[0] + 1 <= c.at < down[1]]  # none while the table was down
        assert [i for i in world.aws.invocations if i.error == "BudgetUnavailable"]
        assert world.sim.record.killed == [] and old_tasks_not_stopped(world) == 0


def test_it_books_every_ecs_call_of_a_drain_in_the_shared_schedule() -> None:
    with rollover_world() as world:
        world.rollover()
        for step in (i for i in world.aws.invocations if i.function == "DrainFunction" and i.action != "wait"):
            ecs = sum(n for api, n in step.calls.items() if api.startswith("ecs:"))
            assert step.calls["dynamodb:UpdateItem"] >= ecs > 0, step


def test_it_answers_at_the_deadline_as_on_timeout_says_when_lambda_refuses_every_step() -> None:
    """Lambda refusing every drain step (the function never runs): the state machine's count of failed tries in a
    row outlasts the deadline, so CloudFormation is answered after it, never before."""
    with rollover_world() as world:
        world.aws.held_back["DrainFunction"] = lambda _now: True
        asked = world.aws.clock.now()
        request, answer = drain(world, OnTimeout="FAIL", DrainTimeoutSeconds="300")
        assert answer is not None and answer.body["Status"] == "FAILED"
        assert 300 <= answer.at - asked <= 300 + 2 * 15 + 60  # after the deadline, within a try or two of it
        assert "Deadline reached before the drain could start: Lambda.TooManyRequestsException" in answer.body["Reason"]
        assert len(answers(world, request)) == 1


def test_it_ends_a_drain_whose_checks_come_early_when_it_is_drained_not_at_the_bound_on_checks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """For its first 300 s every count reports listings left for the next check (a backlog, as when the step's
    allowance cannot afford them), so the next check comes 1 s later: about ten times the checks that polling every
    60 s to the 1,800 s deadline makes. The drain goes on until its tasks are STOPPED, and is answered Drained, not at
    the bound on checks."""
    counted = census_count
    with rollover_world(services=services(6, 1, deregistration_delay=60), new_fleet_registers=None) as world:
        backlog_until = world.aws.clock.now() + 300

        def with_backlog(*args: Any, **kwargs: Any) -> Census:
            census = counted(*args, **kwargs)
            census.out_of_time |= world.aws.clock.now() < backlog_until
            return census

        monkeypatch.setattr(draining, "count", with_backlog)
        _, answer = drain(world, wall_seconds=300, DrainTimeoutSeconds="1800", PollIntervalSeconds="60")
        assert answer is not None and answer.body["Status"] == "SUCCESS", answer
        assert answer.body["Reason"].startswith("Drained"), answer.body["Reason"]
        [execution] = executions(world)
        checks = json.loads(execution["output"])["checks"]
        assert checks > rule.check_bound(1800, 60) == 32
        assert old_tasks_not_stopped(world) == 0
