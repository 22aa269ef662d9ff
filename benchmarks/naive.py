"""The reference the benchmark compares against: a drain as earlier tools do it.

Every check lists and describes the whole cluster, resolves the fleet again, sets instances DRAINING one per
call, and counts runningTasksCount (so it misses tasks that are still stopping). It plugs into the same state
machine as the real DrainFunction, so both are measured on the same emulation.
"""

from __future__ import annotations

from typing import Any

import boto3

from ecs_drain.runtime import clock


def handler(event: dict[str, Any], _context: Any) -> dict[str, Any]:
    if event["Action"] == "wait":  # it watches no task: the wait lasts the poll interval
        return {}
    state = dict(event["State"])
    ecs, ec2 = boto3.client("ecs"), boto3.client("ec2")
    cluster, fleet = state["Properties"]["Cluster"], state["Properties"]["SpotFleet"]
    drain = state["step"].get("drain") or {
        "checks": 0,
        "maxChecks": 400,
        "startedAt": clock.now(),
        "timeline": {},
        "cluster": cluster,  # what the answer step's summary reads
        "remaining": [],
        "need": {"cpu": 0, "memory": 0, "largestCpu": 0, "largestMemory": 0},
        "events": {"on": False, "reported": 0, "missed": 0, "wake": False},  # what the wait reads
    }
    targets = {i["InstanceId"] for i in ec2.describe_spot_fleet_instances(SpotFleetRequestId=fleet)["ActiveInstances"]}
    arns: list[str] = []
    for page in ecs.get_paginator("list_container_instances").paginate(cluster=cluster):
        arns += page["containerInstanceArns"]
    busy = 0
    for start in range(0, len(arns), 100):
        for instance in ecs.describe_container_instances(cluster=cluster, containerInstances=arns[start : start + 100])[
            "containerInstances"
        ]:
            if instance["ec2InstanceId"] not in targets:
                continue
            if instance["status"] == "ACTIVE":
                ecs.update_container_instances_state(
                    cluster=cluster, containerInstances=[instance["containerInstanceArn"]], status="DRAINING"
                )
            busy += instance["runningTasksCount"]
    drain["checks"] += 1 if event["Action"] == "check" else 0
    drain["phase"] = "DRAINED" if busy == 0 and event["Action"] == "check" else "DRAINING"
    drain.update(nextCheckInSeconds=15, message=f"{busy} running", summary={"tasksRemaining": busy, "seconds": 0})
    if drain["phase"] == "DRAINED":
        drain["message"] = "Drained (runningTasksCount is 0)."
        drain["timeline"] |= {"startedAt": drain["startedAt"], "endedAt": clock.now()}
    return {"drain": drain, "maxFailedTries": 1000}  # the step's result, as the DrainFunction's
