"""A minimal in-memory ECS for unit tests of the domain (no network, no moto)."""

from __future__ import annotations

from collections import Counter
from typing import Any


class FakeEcs:
    def __init__(self) -> None:
        self.instances: dict[str, dict[str, Any]] = {}
        self.tasks: dict[str, dict[str, Any]] = {}
        self.calls: Counter[str] = Counter()
        self.refuse: set[str] = set()

    def add_instance(self, cid: str, status: str = "ACTIVE", cpu: int = 2048, memory: int = 4096) -> None:
        self.instances[cid] = {
            "containerInstanceArn": f"arn:aws:ecs:us-east-1:123456789012:container-instance/web/{cid}",
            "ec2InstanceId": f"i-{cid}",
            "status": status,
            "agentConnected": True,
            "runningTasksCount": 0,
            "pendingTasksCount": 0,
            "remainingResources": [{"name": "CPU", "integerValue": cpu}, {"name": "MEMORY", "integerValue": memory}],
        }

    def add_task(
        self, cid: str, arn: str, last: str = "RUNNING", desired: str = "RUNNING", group: str = "service:web"
    ) -> None:
        self.tasks[arn] = {
            "taskArn": arn,
            "lastStatus": last,
            "desiredStatus": desired,
            "group": group,
            "containerInstance": cid,
            "cpu": "256",
            "memory": "512",
        }
        if desired == "RUNNING" and last == "RUNNING":
            self.instances[cid]["runningTasksCount"] += 1

    def describe_container_instances(self, cluster: str, containerInstances: list[str]) -> dict[str, Any]:
        self.calls["DescribeContainerInstances"] += 1
        assert len(containerInstances) <= 100
        found = [self.instances[c] for c in containerInstances if c in self.instances]
        failures = [{"arn": c, "reason": "MISSING"} for c in containerInstances if c not in self.instances]
        return {"containerInstances": found, "failures": failures}

    def update_container_instances_state(self, cluster: str, containerInstances: list[str], status: str) -> Any:
        self.calls["UpdateContainerInstancesState"] += 1
        assert len(containerInstances) <= 10
        failures = []
        for c in containerInstances:
            if c in self.refuse:
                failures.append({"arn": c, "reason": "ServerException"})
            else:
                self.instances[c]["status"] = status
        return {"containerInstances": [], "failures": failures}

    def describe_tasks(self, cluster: str, tasks: list[str]) -> dict[str, Any]:
        self.calls["DescribeTasks"] += 1
        assert len(tasks) <= 100
        return {"tasks": [self.tasks[t] for t in tasks]}

    def stop_task(self, cluster: str, task: str, reason: str) -> dict[str, Any]:
        self.calls["StopTask"] += 1
        self.tasks[task]["desiredStatus"] = "STOPPED"
        return {"task": self.tasks[task]}

    def get_paginator(self, name: str) -> Any:
        fake = self

        class Paginator:
            def paginate(self, **kwargs: Any) -> list[dict[str, Any]]:
                fake.calls[name] += 1
                if name == "list_tasks":
                    arns = [
                        a
                        for a, t in fake.tasks.items()
                        if t["containerInstance"] == kwargs["containerInstance"]
                        and t["desiredStatus"] == kwargs["desiredStatus"]
                    ]
                    return [{"taskArns": arns}]
                return [{"containerInstanceArns": [i["containerInstanceArn"] for i in fake.instances.values()]}]

        return Paginator()
