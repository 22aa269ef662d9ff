"""What the end-to-end tests read back from a world: executions, their history, and what must never leak."""

from __future__ import annotations

import json
from typing import Any

from emulation.offline_aws import ACCOUNT, REGION
from emulation.scenarios import World


def executions(world: World, settle_seconds: float = 30.0) -> list[dict[str, Any]]:
    """The executions, once none is running (an answer can come a moment before its execution ends)."""
    world.aws.wait_for_executions(settle_seconds)
    sfn = world.aws.sfn()
    listed = sfn.list_executions(stateMachineArn=world.aws.state_machine_arn)["executions"]
    return [sfn.describe_execution(executionArn=e["executionArn"]) for e in listed]


def drains(world: World) -> list[dict[str, Any]]:
    """The drain executions (a replacing Update's preflight has an execution of its own)."""
    return [e for e in executions(world) if "-preflight-" not in e["name"]]


def preflights(world: World) -> list[dict[str, Any]]:
    return [e for e in executions(world) if "-preflight-" in e["name"]]


def history(world: World, execution_arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = world.aws.sfn().get_execution_history(executionArn=execution_arn, maxResults=1000)[
        "events"
    ]
    return events


def old_tasks_not_stopped(world: World) -> int:
    return sum(world.sim.not_stopped(i) for i in world.old.container_ids if i in world.sim.instances)


def assert_no_secret_leaked(world: World) -> None:
    """No ResponseURL signature in any log line, execution input, output or history event."""
    secrets = [a.body["RequestId"].replace("-", "") for a in world.server.answers]
    haystacks = ["".join(world.aws.output)]
    for execution in executions(world):
        haystacks += [execution.get("input", ""), execution.get("output", "") or ""]
        haystacks.append(json.dumps(history(world, execution["executionArn"]), default=str))
    for secret in secrets:
        assert all(f"secret{secret}" not in h for h in haystacks)
    assert all("X-Amz-Signature" not in h for h in haystacks)


def drain_steps(world: World) -> list[dict[str, Any]]:
    """The drain state after each plan and check of every execution, in order."""
    steps: list[dict[str, Any]] = []
    for execution in sorted(executions(world), key=lambda e: e["startDate"]):
        for event in history(world, execution["executionArn"]):
            if event["type"] == "TaskSucceeded":
                output = json.loads(event["taskSucceededEventDetails"].get("output") or "{}")
                drain = (output.get("Payload") or {}).get("drain")
                if drain:
                    steps.append(drain)
    return steps


def first_step_naming(steps: list[dict[str, Any]], cause: str, subject: str) -> dict[str, Any] | None:
    """The first step whose diagnosis has this cause for this subject."""
    for step in steps:
        if any(f["cause"] == cause and f["subject"] == subject for f in step.get("diagnosis", [])):
            return step
    return None


def group_in_capacity_provider(world: World) -> None:
    """The old group becomes the cluster's capacity provider, its managed draining left as ECS sets it (on)."""
    arn = f"arn:aws:autoscaling:{REGION}:{ACCOUNT}:autoScalingGroup:0:autoScalingGroupName/{world.old.request_id}"
    ecs = world.aws.client("ecs")
    with world.aws.calls.acting_as("driver"):
        ecs.create_capacity_provider(name="old-group", autoScalingGroupProvider={"autoScalingGroupArn": arn})
        ecs.put_cluster_capacity_providers(
            cluster=world.properties["Cluster"], capacityProviders=["old-group"], defaultCapacityProviderStrategy=[]
        )
