"""IAM against reality: each role grants exactly the AWS calls its function makes, and nothing else.

Every AWS call each function and the state machine make is recorded while the drain runs through every
target kind and the paths that use other APIs (standalone STOP, an execution stopped from the console,
a failed Create, a rollback). The template's policies must cover those calls and grant nothing more.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any
from unittest import mock

import pytest

from ecs_drain.aws import hook_bindings
from ecs_drain.aws.watch import TaskWatch
from ecs_drain.decisions import rule
from emulation import template as cfn
from emulation.catalog import SCENARIOS, world_options
from emulation.offline_aws import ACCOUNT, REGION
from emulation.scenarios import World, pinned_services, rollover_world, services
from tests import iam
from tests.e2e.helpers import executions, group_in_capacity_provider

WATCH_TABLE, RULE = "ecs-drain-WatchTable", "ecs-drain-task-stopped"

IAM_PREFIX = {"stepfunctions": "states", "awslambda": "lambda", "elbv2": "elasticloadbalancing"}
IAM_ACTION = {("awslambda", "Invoke"): "InvokeFunction"}
# Delivered by the services themselves, not by calls the emulation can see.
NOT_OBSERVABLE_OFFLINE = {"logs:", "xray:"}


def granted() -> dict[str, set[str]]:
    template = cfn.load()
    roles: dict[str, set[str]] = defaultdict(set)
    for logical_id, resource in template["Resources"].items():
        role = "states" if resource["Type"] == "AWS::Serverless::StateMachine" else logical_id
        for policy in resource.get("Properties", {}).get("Policies", []):
            if "LambdaInvokePolicy" in policy:
                roles[role].add("lambda:InvokeFunction")
                continue
            for statement in policy.get("Statement", []):
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                roles[role].update(a for a in actions if not a.startswith(tuple(NOT_OBSERVABLE_OFFLINE)))
    return roles


SCOPES: set[tuple[str, str, str, str]] = set()  # (role, service, action, cluster or stack) of every call recorded


def record(world: World, used: dict[str, set[str]]) -> None:
    for (caller, service, action), _ in world.aws.calls.calls.items():
        if caller == "driver":
            continue
        used[caller].add(f"{IAM_PREFIX.get(service, service)}:{IAM_ACTION.get((service, action), action)}")
    SCOPES.update(scope for scope in world.aws.calls.scopes if scope[0] != "driver")


def scenarios(used: dict[str, set[str]]) -> None:
    for kind in ("SpotFleet", "Fleet", "AutoScalingGroup"):
        with rollover_world(kind=kind, standalone=[(0, None)]) as world:
            world.rollover(StandaloneTasks="STOP")
            record(world, used)
    with rollover_world(new_instances=0) as world:
        request = world.cfn.request("Delete", "ECSDrain", world.properties, physical_id=world.physical_id)

        def stop_from_console() -> None:
            sfn = world.aws.sfn()
            with world.aws.calls.acting_as("driver"):
                for execution in sfn.list_executions(stateMachineArn=world.aws.state_machine_arn)["executions"]:
                    sfn.stop_execution(executionArn=execution["executionArn"])

        world.sim.at(world.aws.clock.now() + 60, stop_from_console)
        world.cfn.send(request)
        world.cfn.wait_for_answer(request)
        record(world, used)
    with rollover_world(services=pinned_services()) as world:  # blocked: the Delete is tried three times
        world.rollover(BlockedTimeoutSeconds="60", OnTimeout="FAIL", Preflight="OFF")
        assert len(world.cfn.delete_tries) == 3
        record(world, used)
    for scenario in ("eni", "scaling"):  # awsvpc tasks: instance types read; capacity providers read
        with rollover_world(**world_options(SCENARIOS[scenario])) as world:
            world.rollover()
            record(world, used)
    with rollover_world() as world:  # the resource removed from the template, the fleet kept: nothing drained
        assert world.remove() is not None
        record(world, used)
    # Tasks behind a load balancer are watched through ECS events (the rule switched on, the watch kept; the rule
    # switched off at the end). Then, whichever way the drain's own timing went: a wait that begins after the last
    # event came sends its own token back; and a last task's event sends back the token of a wait.
    with rollover_world(services=services(6, 1, deregistration_delay=60), new_fleet_registers=None) as world:
        world.drain_old(wall_seconds=300)
        assert world.aws.wait_for_executions(wall_seconds=60)
        watch = TaskWatch(world.aws.client("dynamodb"), world.aws.client("events"), WATCH_TABLE, RULE, "late")
        assert watch.update(["t1"], [], world.aws.clock.now()) and watch.update([], ["t1"], world.aws.clock.now())
        wait = {"Action": "wait", "TaskToken": "a-token-no-longer-waited-for", "ExecutionName": "late", "Wake": True}
        world.aws.invoke("DrainFunction", wait)
        assert watch.update(["t2"], [], world.aws.clock.now())
        world.aws.invoke("DrainFunction", {**wait, "TaskToken": "another-token"})  # kept: t2 is still stopping
        stopped = {"lastStatus": "STOPPED", "taskArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/web/t2"}
        world.aws.invoke("TaskStoppedFunction", {"source": "aws.ecs", "detail": stopped})
        record(world, used)
    # A drain that goes on in a new execution (after 3 checks here, 1,538 under the real quota).
    with mock.patch.object(rule, "CHECKS_PER_EXECUTION", 3), rollover_world(services=services(6, 1)) as world:
        _, answer = world.drain_old(wall_seconds=300, PollIntervalSeconds="5")
        assert answer is not None and answer.body["Status"] == "SUCCESS"
        assert any(e["name"].endswith("-2") for e in executions(world)), "no drain went on in a new execution"
        record(world, used)
    hook_drains(used)
    with rollover_world(kind="AutoScalingGroup", new_instances=0) as world:
        group_in_capacity_provider(world)
        assert world.bind_termination_hook("drain", heartbeat=120) is not None  # refused: ECS drains that group
        record(world, used)
    with rollover_world(create=False, new_instances=0) as world:
        _, failed = world.cfn.create("ECSDrain", {**world.properties, "Cluster": "nope"})
        assert failed is not None
        world.cfn.delete("ECSDrain", world.properties, failed.body["PhysicalResourceId"])
        record(world, used)


def hook_drains(used: dict[str, set[str]]) -> None:
    """Both hooks bound, an instance refresh's new instances checked and its old ones drained (heartbeats,
    completions); two events
    of one batch either side of a change of the binding (the second finds the batch's drain by its name), whose drain
    is stopped while it gathers."""
    with rollover_world(kind="AutoScalingGroup", new_instances=0) as world:
        assert world.bind_hooks({"TerminationHook": ("drain", 120), "LaunchHook": ("check", 1200)}) is not None
        refresh = world.refresh_in_place(wall_seconds=300, MinHealthyPercentage=50, InstanceWarmup=60)
        assert refresh["Status"] == "Successful" and world.aws.wait_for_executions(wall_seconds=60)
        detail = {
            "AutoScalingGroupName": world.old.request_id,
            "LifecycleHookName": "drain",
            "LifecycleTransition": "autoscaling:EC2_INSTANCE_TERMINATING",
        }
        first = {
            "source": "aws.autoscaling",
            "detail": {**detail, "EC2InstanceId": "i-0aaaaaaaaaaaaaaaa", "LifecycleActionToken": "t1"},
        }
        with world.aws.clock.participant():  # no time passes: both within the batch's gathering
            world.aws.invoke("LifecycleHookFunction", first)
            changed = hook_bindings.Binding(
                world.old.request_id, "drain", {**world.properties, "BlockedTimeoutSeconds": "600"}, 120
            )
            with world.aws.calls.acting_as("driver"):  # the binding changed (an Update) within the batch's gathering
                hook_bindings.bind(world.aws.client("dynamodb"), WATCH_TABLE, changed, world.aws.clock.now())
            second = {
                "source": "aws.autoscaling",
                "detail": {**detail, "EC2InstanceId": "i-0bbbbbbbbbbbbbbbb", "LifecycleActionToken": "t2"},
            }
            world.aws.invoke("LifecycleHookFunction", second)
            # The batch's drain stopped from the console while it gathers: its instances' actions are completed all
            # the same (the batch sealed by the answer).
            sfn = world.aws.sfn()
            with world.aws.calls.acting_as("driver"):
                running = sfn.list_executions(stateMachineArn=world.aws.state_machine_arn, statusFilter="RUNNING")
                for execution in running["executions"]:
                    sfn.stop_execution(executionArn=execution["executionArn"])
        assert world.aws.wait_for_executions(wall_seconds=60)
        # The resource deleted (the stack deleted): the binding is let go.
        world.cfn.delete("ECSDrain", world.properties, world.physical_id)
        record(world, used)


@pytest.mark.slow
def test_it_grants_each_role_exactly_the_calls_its_code_makes() -> None:
    used: dict[str, set[str]] = defaultdict(set)
    scenarios(used)
    policies: dict[str, Any] = granted()
    assert set(used) == {
        "CustomResourceFunction",
        "DrainFunction",
        "AnswerFunction",
        "TaskStoppedFunction",
        "LifecycleHookFunction",
        "states",
    }
    for role in sorted(set(used) | set(policies)):
        missing = used[role] - policies.get(role, set())
        unused = policies.get(role, set()) - used[role]
        assert not missing, f"{role} calls what its policy does not grant: {sorted(missing)}"
        assert not unused, f"{role} is granted what it never calls: {sorted(unused)}"
    # Every call on a cluster or a stack is allowed on it: with every cluster and stack allowed (the default), and
    # with only the clusters and stacks these drains used named (ClusterNames, ConsumerStackNames).
    judged = [(role, service, action, name) for role, service, action, name in SCOPES if role != "states"]
    clusters = sorted({name for _, service, _, name in judged if service == "ecs"})
    stacks = sorted({name for _, service, _, name in judged if service == "cloudformation"})
    assert clusters and stacks
    named = {"ClusterNames": ",".join(clusters), "ConsumerStackNames": ",".join(stacks)}
    elsewhere = {"ClusterNames": "elsewhere", "ConsumerStackNames": "elsewhere"}
    for setting in ({}, named):
        allowed = iam.policies(setting)
        for role, service, action, name in judged:
            call = iam.ecs_request(action, name) if service == "ecs" else iam.stack_request(action, name)
            assert iam.allows(allowed[role], call), (setting, role, action, name)
    # And the named setting scopes: the same calls on other clusters and stacks are refused (but for the one ECS
    # read that takes no resource).
    refused = iam.policies(elsewhere)
    for role, service, action, name in judged:
        call = iam.ecs_request(action, name) if service == "ecs" else iam.stack_request(action, name)
        assert iam.allows(refused[role], call) == (action == "DescribeTaskDefinition"), (role, action, name)
