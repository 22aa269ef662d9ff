"""In-memory AWS clients for unit tests (no network, no moto), typed where the product takes a boto3 client.

Each fake implements only the calls the product makes, with the API limits the product must respect asserted.
`clients()` and the `*_client` helpers hand them to the product as the boto3 types it declares.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import botocore.session
from botocore.exceptions import ClientError
from botocore.validate import ParamValidator

from ecs_drain.aws.budget import CallBudget
from ecs_drain.aws.clients import Clients
from ecs_drain.decisions.claims import Claim, numbered

if TYPE_CHECKING:
    from mypy_boto3_autoscaling import AutoScalingClient
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ecs import ECSClient
    from mypy_boto3_ssm import SSMClient
    from mypy_boto3_stepfunctions import SFNClient

ARN = "arn:aws:ecs:us-east-1:123456789012"
ECS_MODEL = botocore.session.get_session().get_service_model("ecs")


def client_error(code: str, operation: str = "Call") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, operation)


class FakeEcs:
    """A cluster of container instances and tasks, answering as ECS does for the calls a drain makes."""

    def __init__(self, fail: str = "") -> None:
        self.instances: dict[str, dict[str, Any]] = {}
        self.tasks: dict[str, dict[str, Any]] = {}
        self.daemons: set[str] = set()
        self.calls: Counter[str] = Counter()
        self.refuse: set[str] = set()
        self.filters: list[str] = []
        self.fail = fail  # every call raises this error code
        self.budget: CallBudget | None = None  # paces the calls, as the hook on the real client does
        # service name -> what DescribeServices adds: desiredCount, deploymentConfiguration, events, ...
        self.service_fields: dict[str, dict[str, Any]] = {}

    # ---- building the world ----
    def add_instance(
        self,
        cid: str,
        status: str = "ACTIVE",
        cpu: int = 2048,
        memory: int = 4096,
        attributes: dict[str, str] | None = None,
    ) -> None:
        self.instances[cid] = {
            "containerInstanceArn": f"{ARN}:container-instance/web/{cid}",
            "ec2InstanceId": f"i-{cid}",
            "status": status,
            "agentConnected": True,
            "runningTasksCount": 0,
            "pendingTasksCount": 0,
            "remainingResources": [{"name": "CPU", "integerValue": cpu}, {"name": "MEMORY", "integerValue": memory}],
            "registeredResources": [{"name": "CPU", "integerValue": cpu}, {"name": "MEMORY", "integerValue": memory}],
            "attributes": [{"name": name, "value": value} for name, value in (attributes or {}).items()],
        }

    def add_task(
        self, cid: str, arn: str, last: str = "RUNNING", desired: str = "RUNNING", group: str = "service:web"
    ) -> None:
        self.tasks[arn] = {
            "taskArn": arn,
            "lastStatus": last,
            "desiredStatus": desired,
            "group": group,
            "containerInstanceArn": self.instances[cid]["containerInstanceArn"],
            "cpu": "256",
            "memory": "512",
        }
        if desired == "RUNNING":
            self.instances[cid]["runningTasksCount"] += 1
        if last != "STOPPED":
            self._reserve(cid, 256, 512)

    def set_task(self, arn: str, last: str, desired: str = "STOPPED") -> None:
        """Move a task on, keeping the instance's runningTasksCount as ECS keeps it (desiredStatus RUNNING), and
        its reservation until the task is STOPPED."""
        task = self.tasks[arn]
        if task["desiredStatus"] == "RUNNING" and desired != "RUNNING":
            self.instances[self._home(task)]["runningTasksCount"] -= 1
        if task["lastStatus"] != "STOPPED" and last == "STOPPED":
            self._reserve(self._home(task), -256, -512)
        task.update(lastStatus=last, desiredStatus=desired)

    def _reserve(self, cid: str, cpu: int, memory: int) -> None:
        for resource in self.instances[cid]["remainingResources"]:
            resource["integerValue"] -= cpu if resource["name"] == "CPU" else memory

    @property
    def client(self) -> ECSClient:
        return cast("ECSClient", self)

    def _home(self, task: dict[str, Any]) -> str:
        return str(task["containerInstanceArn"]).rsplit("/", 1)[-1]

    def _call(self, name: str, **params: Any) -> None:
        """Count a call, as ECS would take it: its parameters valid for botocore's ECS model (a fake must not accept
        what AWS refuses), paced by the budget, or failing as told."""
        operation = "".join(part.title() for part in name.split("_")) if "_" in name else name
        shape = ECS_MODEL.operation_model(operation).input_shape
        assert shape is not None, operation
        report = ParamValidator().validate(params, shape)
        assert not report.has_errors(), report.generate_report()
        self.calls[name] += 1
        if self.budget is not None:
            self.budget.wait_turn(operation)
        if self.fail:
            raise client_error(self.fail, name)

    # ---- the API ----
    def describe_container_instances(self, cluster: str, containerInstances: list[str]) -> dict[str, Any]:
        self._call("DescribeContainerInstances", cluster=cluster, containerInstances=containerInstances)
        assert 1 <= len(containerInstances) <= 100
        found = [self.instances[c] for c in containerInstances if c in self.instances]
        failures = [{"arn": c, "reason": "MISSING"} for c in containerInstances if c not in self.instances]
        return {"containerInstances": found, "failures": failures}

    def update_container_instances_state(self, cluster: str, containerInstances: list[str], status: str) -> Any:
        self._call(
            "UpdateContainerInstancesState", cluster=cluster, containerInstances=containerInstances, status=status
        )
        assert 1 <= len(containerInstances) <= 10
        failures = []
        for c in containerInstances:
            if c in self.refuse:
                failures.append({"arn": c, "reason": "ServerException"})
            else:
                self.instances[c]["status"] = status
        return {"containerInstances": [], "failures": failures}

    def describe_tasks(self, cluster: str, tasks: list[str]) -> dict[str, Any]:
        self._call("DescribeTasks", cluster=cluster, tasks=tasks)
        assert 1 <= len(tasks) <= 100
        by_id = {a.rsplit("/", 1)[-1]: t for a, t in self.tasks.items()}
        return {"tasks": [by_id[t.rsplit("/", 1)[-1]] for t in tasks if t.rsplit("/", 1)[-1] in by_id]}

    def list_tasks(self, cluster: str, desiredStatus: str, maxResults: int, nextToken: str = "0") -> dict[str, Any]:
        """The cluster's tasks of one desired status, a page at a time (the token is the offset)."""
        self._call("ListTasks", cluster=cluster, desiredStatus=desiredStatus, maxResults=maxResults)
        assert 1 <= maxResults <= 100
        arns = sorted(a for a, t in self.tasks.items() if t["desiredStatus"] == desiredStatus)
        start = int(nextToken)
        page: dict[str, Any] = {"taskArns": arns[start : start + maxResults]}
        if start + maxResults < len(arns):
            page["nextToken"] = str(start + maxResults)
        return page

    def stop_task(self, cluster: str, task: str, reason: str) -> dict[str, Any]:
        self._call("StopTask", cluster=cluster, task=task, reason=reason)
        self.set_task(task, self.tasks[task]["lastStatus"], "STOPPED")
        return {"task": self.tasks[task]}

    def service_names(self) -> list[str]:
        return sorted({g.split(":", 1)[1] for t in self.tasks.values() if (g := t["group"]).startswith("service:")})

    def describe_services(self, cluster: str, services: list[str]) -> dict[str, Any]:
        self._call("DescribeServices", cluster=cluster, services=services)
        assert 1 <= len(services) <= 10
        described = []
        for arn in services:
            name = arn.rsplit("/", 1)[-1]
            group = f"service:{name}"
            running = sum(1 for t in self.tasks.values() if t["group"] == group and t["lastStatus"] == "RUNNING")
            described.append(
                {
                    "serviceName": name,
                    "status": "ACTIVE",
                    "schedulingStrategy": "DAEMON" if name in self.daemons else "REPLICA",
                    "taskDefinition": f"{ARN}:task-definition/{name}:1",
                    "runningCount": running,
                    "desiredCount": running,
                    **self.service_fields.get(name, {}),
                }
            )
        return {"services": described}

    def describe_task_definition(self, taskDefinition: str) -> dict[str, Any]:
        self._call("DescribeTaskDefinition", taskDefinition=taskDefinition)
        family = taskDefinition.rsplit("/", 1)[-1].split(":", maxsplit=1)[0]
        return {"taskDefinition": {"family": family, "cpu": "256", "memory": "512", "containerDefinitions": []}}

    def describe_clusters(self, clusters: list[str]) -> dict[str, Any]:
        self._call("DescribeClusters", clusters=clusters)
        return {"clusters": [{"clusterName": c, "status": "ACTIVE"} for c in clusters if c == "web"]}

    def get_paginator(self, name: str) -> FakePaginator:
        return FakePaginator(self, name)


@dataclass
class FakePaginator:
    ecs: FakeEcs
    name: str

    def paginate(self, **kwargs: Any) -> list[dict[str, Any]]:
        self.ecs._call(self.name, **{k: v for k, v in kwargs.items() if k != "PaginationConfig"})
        if self.name == "list_services":
            return [{"serviceArns": [f"{ARN}:service/web/{name}" for name in self.ecs.service_names()]}]
        if self.name == "list_tasks":
            arns = [
                a
                for a, t in self.ecs.tasks.items()
                if self.ecs._home(t) == kwargs.get("containerInstance", self.ecs._home(t))
                and t["group"] == (f"service:{kwargs['serviceName']}" if "serviceName" in kwargs else t["group"])
                and t["desiredStatus"] == kwargs["desiredStatus"]
            ]
            return [{"taskArns": arns}]
        instances = list(self.ecs.instances.values())
        if "filter" in kwargs:
            self.ecs.filters.append(kwargs["filter"])
            instances = [i for i in instances if f"'{i['ec2InstanceId']}'" in kwargs["filter"]]
        if "status" in kwargs:
            instances = [i for i in instances if i["status"] == kwargs["status"]]
        return [{"containerInstanceArns": [i["containerInstanceArn"] for i in instances]}]


class FakeEc2:
    """Spot Fleet and EC2 Fleet instance listings, paged."""

    def __init__(self, pages: list[list[str]], requests: int = 1, capacity: tuple[float, int] = (1.0, 1)) -> None:
        self.pages, self.requests = pages, requests
        self.capacity = capacity  # (FulfilledCapacity, TargetCapacity)
        self.tokens: list[str | None] = []

    def describe_spot_fleet_requests(self, **_: Any) -> dict[str, Any]:
        fulfilled, target = self.capacity
        config = {"FulfilledCapacity": fulfilled, "TargetCapacity": target}
        return {"SpotFleetRequestConfigs": [{"SpotFleetRequestConfig": config}] * self.requests}

    def describe_spot_fleet_instances(self, **kwargs: Any) -> dict[str, Any]:
        self.tokens.append(kwargs.get("NextToken"))
        index = int(kwargs.get("NextToken", "0"))
        page: dict[str, Any] = {"ActiveInstances": [{"InstanceId": i} for i in self.pages[index]]}
        if index + 1 < len(self.pages):
            page["NextToken"] = str(index + 1)
        return page

    def describe_fleet_instances(self, **_: Any) -> dict[str, Any]:
        raise client_error("InvalidFleetId.NotFound")


def clients(ecs: FakeEcs | None = None, ec2: FakeEc2 | None = None) -> Clients:
    return Clients(
        ecs=(ecs or FakeEcs()).client,
        ec2=cast("EC2Client", ec2 or FakeEc2([[]])),
        autoscaling=cast("AutoScalingClient", None),
    )


class ParameterNotFound(Exception):
    pass


@dataclass
class FakeSsm:
    parameters: dict[str, str] = field(default_factory=dict)

    class exceptions:
        ParameterNotFound = ParameterNotFound

    def put_parameter(self, Name: str, Value: str, **_: Any) -> None:
        self.parameters[Name] = Value

    def get_parameter(self, Name: str, **_: Any) -> dict[str, Any]:
        if Name not in self.parameters:
            raise ParameterNotFound(Name)
        return {"Parameter": {"Value": self.parameters[Name]}}

    def delete_parameter(self, Name: str) -> None:
        if Name not in self.parameters:
            raise ParameterNotFound(Name)
        del self.parameters[Name]

    @property
    def client(self) -> SSMClient:
        return cast("SSMClient", self)


class ExecutionAlreadyExists(Exception):
    pass


@dataclass
class FakeSfn:
    """StartExecution as Step Functions answers it: idempotent while running, refused once closed."""

    executions: dict[str, tuple[str, bool]] = field(default_factory=dict)  # name -> (input, closed)
    outputs: dict[str, str] = field(default_factory=dict)  # name -> the execution's output (the summary)

    class exceptions:
        ExecutionAlreadyExists = ExecutionAlreadyExists

    def start_execution(self, stateMachineArn: str, name: str, input: str) -> dict[str, Any]:
        if name in self.executions and (self.executions[name][1] or self.executions[name][0] != input):
            raise ExecutionAlreadyExists(name)
        self.executions[name] = (input, False)
        return {"executionArn": stateMachineArn.replace(":stateMachine:", ":execution:") + f":{name}"}

    def close(self, name: str, output: dict[str, Any] | None = None) -> None:
        self.executions[name] = (self.executions[name][0], True)
        if output is not None:
            self.outputs[name] = json.dumps(output)

    def _arn(self, name: str) -> str:
        return f"arn:aws:states:us-east-1:123456789012:execution:drain:{name}"

    def get_paginator(self, operation: str) -> Any:
        assert operation == "list_executions"
        fake = self

        class Pages:
            def paginate(self, **_: Any) -> list[dict[str, Any]]:
                newest_first = list(reversed(fake.executions.items()))
                return [
                    {
                        "executions": [
                            {"name": n, "executionArn": fake._arn(n), "status": "SUCCEEDED" if c else "RUNNING"}
                            for n, (_input, c) in newest_first
                        ]
                    }
                ]

        return Pages()

    def describe_execution(self, executionArn: str) -> dict[str, Any]:
        name = executionArn.rsplit(":", 1)[-1]
        document, closed = self.executions[name]
        status = "SUCCEEDED" if closed else "RUNNING"
        return {"executionArn": executionArn, "status": status, "input": document, "output": self.outputs.get(name)}

    @property
    def client(self) -> SFNClient:
        return cast("SFNClient", self)


@dataclass
class FakeCloudFormation:
    """DescribeStacks, ListStackResources and GetTemplate for one stack; a stack it does not know is refused as
    CloudFormation refuses it (ValidationError)."""

    status: str | None = None  # None: no such stack
    resources: list[dict[str, str]] = field(default_factory=list)  # LogicalResourceId, PhysicalResourceId, status
    template: object = ""

    def _known(self, operation: str) -> None:
        if self.status is None:
            raise client_error("ValidationError", operation)

    def describe_stacks(self, StackName: str) -> dict[str, Any]:
        self._known("DescribeStacks")
        return {"Stacks": [{"StackId": StackName, "StackStatus": self.status}]}

    def get_paginator(self, operation: str) -> Any:
        assert operation == "list_stack_resources"
        fake = self

        class Pages:
            def paginate(self, **_: Any) -> list[dict[str, Any]]:
                fake._known("ListStackResources")
                return [{"StackResourceSummaries": fake.resources}]

        return Pages()

    def get_template(self, StackName: str, **_: Any) -> dict[str, Any]:
        self._known("GetTemplate")
        return {"TemplateBody": self.template}

    @property
    def client(self) -> CloudFormationClient:
        return cast("CloudFormationClient", self)


@dataclass
class LambdaContext:
    function_name: str = "ecs-drain-test"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:ecs-drain-test"
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def create_watch_table(dynamodb: Any, name: str) -> None:
    """The provider's watch table (template.yaml's WatchTable: one string key, `key`), on moto."""
    _create_table(dynamodb, name, "key")


def create_budget_table(dynamodb: Any, name: str) -> None:
    """The provider's call budget table (template.yaml's CallBudgetTable: one string key, `category`), on moto."""
    _create_table(dynamodb, name, "category")


def _create_table(dynamodb: Any, name: str, key: str) -> None:
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


@dataclass
class FakeBook:
    """RoomBook's calls on a dict; `down` makes every call fail as the table's trouble does (None)."""

    claims: dict[str, Claim] = field(default_factory=dict)
    drawn: int = 0
    down: bool = False
    reads: int = 0

    def read(self, cluster: str) -> list[Claim] | None:
        self.reads += 1
        return None if self.down else list(self.claims.values())

    def write(self, cluster: str, claim: Claim) -> Claim | None:
        if self.down:
            return None
        if not claim.seq:
            self.drawn += 1
            claim = numbered(claim, self.drawn)
        self.claims[claim.key] = claim
        return claim

    def release(self, cluster: str, key: str) -> None:
        self.claims.pop(key, None)
