"""AWS API behaviour that moto leaves out, enforced here; and a count of every AWS call.

ECS, as AWS documents it: ListContainerInstances pages of at most 100 with its `filter`
(`ec2InstanceId in [...]`) and `status`; ListTasks pages of 100, desiredStatus RUNNING by default;
DescribeContainerInstances and DescribeTasks at most 100; UpdateContainerInstancesState at most 10;
DescribeServices at most 10. A call beyond a limit fails as AWS fails it (InvalidParameterException).
StopTask and UpdateContainerInstancesState go through the scheduler simulator.
"""

from __future__ import annotations

import base64
import random
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from moto.core.exceptions import JsonRESTError
from moto.core.responses import ActionResult, BaseResponse
from moto.ecs.exceptions import ClusterNotFoundException
from moto.ecs.responses import EC2ContainerServiceResponse

from . import autoscaling_api, moto_patches, throttling

if TYPE_CHECKING:
    from .ecs_simulator import EcsSimulator

_FILTER = re.compile(r"^\s*ec2InstanceId\s+in\s+\[(?P<ids>[^\]]*)\]\s*$")
_ID = re.compile(r"'(i-[0-9a-f]+)'|\"(i-[0-9a-f]+)\"")


class InvalidParameter(JsonRESTError):
    def __init__(self, message: str) -> None:
        super().__init__("InvalidParameterException", message)


class Throttled(JsonRESTError):
    def __init__(self) -> None:
        super().__init__("ThrottlingException", "Rate exceeded")


@dataclass
class EcsCall:
    at: float  # simulated time the call reached ECS
    caller: str
    action: str
    throttled: bool


@dataclass
class CallLog:
    """Every AWS call made while counting is on, per caller (a function name, `states` or `driver`), and every ECS
    call with its simulated time."""

    calls: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # (caller, service, action)
    # (caller, service, action, what it acts on): an ECS call's cluster, a CloudFormation call's stack, by name
    scopes: set[tuple[str, str, str, str]] = field(default_factory=set)
    throttled: int = 0
    ecs: list[EcsCall] = field(default_factory=list)
    local: threading.local = field(default_factory=threading.local)

    def caller(self, service: str = "", action: str = "") -> str:
        """The function making the call; calls from outside any function are the state machine's where they are
        Lambda invocations or made by an execution's own thread (a Task on a service integration)."""
        caller = getattr(self.local, "caller", None)
        if caller:
            return str(caller)
        return "states" if (service, action) == ("awslambda", "Invoke") or moto_patches.in_execution() else "driver"

    @contextmanager
    def acting_as(self, caller: str) -> Iterator[None]:
        previous = getattr(self.local, "caller", None)
        self.local.caller = caller
        try:
            yield
        finally:
            self.local.caller = previous

    def by_action(self, service: str | None = None, caller: str | None = None) -> Counter[str]:
        out: Counter[str] = Counter()
        for (who, svc, action), n in self.calls.items():
            if (service is None or svc == service) and (caller is None or who == caller):
                out[f"{svc}:{action}"] += n
        return out

    def ecs_calls(self, caller: str | None = None, category: str | None = None) -> list[EcsCall]:
        return [
            c
            for c in self.ecs
            if caller in (None, c.caller) and category in (None, throttling.CATEGORIES.get(c.action))
        ]

    def reset(self) -> None:
        self.calls.clear()
        self.scopes.clear()
        self.ecs.clear()
        self.throttled = 0


@dataclass
class Faults:
    """Failures to inject, beyond the throttling model: a fixed share of the drain function's ECS calls throttled
    whatever the buckets hold (a named fault, for testing the retries; not the model of throttling)."""

    ecs_throttle_share: float = 0.0
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    # DynamoDB unavailable at these simulated times (every request answers 500 InternalServerError)
    dynamodb_down: Callable[[float], bool] = lambda _t: False


def _page(items: list[str], token: str | None, max_results: int | None) -> dict[str, Any]:
    size = 100 if max_results is None else max_results
    if not 1 <= size <= 100:
        raise InvalidParameter("maxResults must be between 1 and 100.")
    start = int(base64.b64decode(token).decode()) if token else 0
    page: dict[str, Any] = {}
    chunk = items[start : start + size]
    if start + size < len(items):
        page["nextToken"] = base64.b64encode(str(start + size).encode()).decode()
    return page | {"items": chunk}


class EcsApi:
    """Replaces moto's ECS response methods for the calls a drain makes, on the simulator's data."""

    def __init__(self, sim: EcsSimulator) -> None:
        self.sim = sim
        # container instance id -> how many more state updates of it fail (a per-instance failure, as AWS reports)
        self.refuse: dict[str, int] = {}
        # Auto Scaling's lifecycle calls, answered beside ECS's (set by `enforced`)
        self.lifecycle: autoscaling_api.AutoScalingLifecycle | None = None

    def _cluster(self, response: EC2ContainerServiceResponse) -> None:
        name = str(response._get_param("cluster", "default")).rsplit("/", 1)[-1]
        if name != self.sim.cluster or name not in self.sim.backend.clusters:
            raise ClusterNotFoundException

    def list_container_instances(self, response: EC2ContainerServiceResponse) -> ActionResult:
        self._cluster(response)
        status = response._get_param("status")
        expression = response._get_param("filter")
        instances = self.sim.instances.values()
        if status:
            instances = [i for i in instances if i.status == status]
        else:  # AWS: every status but INACTIVE
            instances = [i for i in instances if i.status != "INACTIVE"]
        if expression:
            match = _FILTER.match(expression)
            if not match:
                raise InvalidParameter(f"The emulation supports only 'ec2InstanceId in [...]' filters: {expression!r}")
            wanted = {a or b for a, b in _ID.findall(match.group("ids"))}
            instances = [i for i in instances if i.ec2_instance_id in wanted]
        arns = sorted(str(i.container_instance_arn) for i in instances)
        page = _page(arns, response._get_param("nextToken"), response._get_param("maxResults"))
        return ActionResult({"containerInstanceArns": page.pop("items"), **page})

    def _refs(self, response: EC2ContainerServiceResponse, name: str, limit: int) -> list[str]:
        """The ids or ARNs a call names, within the API's limit; ARNs and ids alike end in the id."""
        self._cluster(response)
        wanted = response._get_param(name) or []
        if not wanted or len(wanted) > limit:
            raise InvalidParameter(f"{name} must hold from 1 to {limit} items.")
        return list(wanted)

    @staticmethod
    def _lookup(refs: list[str], table: dict[str, Any]) -> tuple[list[Any], list[dict[str, str]]]:
        found = [table[r.rsplit("/", 1)[-1]] for r in refs if r.rsplit("/", 1)[-1] in table]
        missing = [{"arn": r, "reason": "MISSING"} for r in refs if r.rsplit("/", 1)[-1] not in table]
        return found, missing

    def describe_container_instances(self, response: EC2ContainerServiceResponse) -> ActionResult:
        found, failures = self._lookup(self._refs(response, "containerInstances", 100), self.sim.instances)
        return ActionResult({"containerInstances": found, "failures": failures})

    def update_container_instances_state(self, response: EC2ContainerServiceResponse) -> ActionResult:
        wanted = self._refs(response, "containerInstances", 10)
        status = response._get_param("status")
        if status not in ("ACTIVE", "DRAINING"):
            raise InvalidParameter("Container instance status should be one of [ACTIVE, DRAINING]")
        found, failures = [], []
        for ref in wanted:
            instance = self.sim.instances.get(ref.rsplit("/", 1)[-1])
            if instance is None:
                failures.append({"arn": ref, "reason": "MISSING"})
            elif instance.status not in ("ACTIVE", "DRAINING"):
                failures.append({"arn": ref, "reason": f"Container instance is {instance.status}"})
            elif self.refuse.get(ref.rsplit("/", 1)[-1], 0) > 0:
                self.refuse[ref.rsplit("/", 1)[-1]] -= 1
                failures.append({"arn": ref, "reason": "ServerException", "detail": "injected failure"})
            else:
                if status == "DRAINING":
                    self.sim.record.draining_set_at.setdefault(ref.rsplit("/", 1)[-1], self.sim.clock.now())
                instance.status = status
                found.append(instance)
        self.sim.instances_changed()
        return ActionResult({"containerInstances": found, "failures": failures})

    def list_tasks(self, response: EC2ContainerServiceResponse) -> ActionResult:
        self._cluster(response)
        desired = response._get_param("desiredStatus") or "RUNNING"
        instance = response._get_param("containerInstance")
        service = response._get_param("serviceName")
        if instance:
            candidates = [self.sim.tasks[a] for a in self.sim.by_instance.get(instance.rsplit("/", 1)[-1], ())]
        else:
            candidates = list(self.sim.tasks.values())
        arns = sorted(t.arn for t in candidates if t.desired == desired and (service is None or t.service == service))
        page = _page(arns, response._get_param("nextToken"), response._get_param("maxResults"))
        return ActionResult({"taskArns": page.pop("items"), **page})

    def describe_tasks(self, response: EC2ContainerServiceResponse) -> ActionResult:
        found, failures = self._lookup(self._refs(response, "tasks", 100), self.sim.task_ids)
        return ActionResult({"tasks": [t.moto for t in found], "failures": failures})

    def stop_task(self, response: EC2ContainerServiceResponse) -> ActionResult:
        self._cluster(response)
        found = self.sim.task_ids.get(str(response._get_param("task")).rsplit("/", 1)[-1])
        task = self.sim.stop(found.arn, response._get_param("reason") or "Stopped by user") if found else None
        if task is None:
            raise InvalidParameter("The referenced task was not found.")
        return ActionResult({"task": task.moto})

    def describe_services(self, response: EC2ContainerServiceResponse) -> ActionResult:
        """As ECS answers it: counts from the simulator, the deployment configuration, placement constraints, and
        the service's events (newest first, the last 100)."""
        wanted = self._refs(response, "services", 10)
        services, failures = [], []
        for ref in wanted:
            name = ref.rsplit("/", 1)[-1]
            moto_service = self.sim.backend.services.get(f"{self.sim.cluster}:{name}")
            spec = self.sim.services.get(name)
            if moto_service is None or spec is None:
                failures.append({"arn": ref, "reason": "MISSING"})
                continue
            tasks = self.sim.service_tasks(name)
            active = sum(1 for i in self.sim.instances.values() if i.status == "ACTIVE")
            events = self.sim.record.service_events.get(name, [])[-100:]
            services.append(
                {
                    "serviceArn": moto_service.arn,
                    "serviceName": name,
                    "clusterArn": moto_service.cluster_arn,
                    "status": "ACTIVE",
                    "taskDefinition": moto_service.task_definition,
                    "schedulingStrategy": "DAEMON" if spec.daemon else "REPLICA",
                    "desiredCount": active if spec.daemon else spec.desired,
                    "runningCount": sum(1 for t in tasks if t.last == "RUNNING"),
                    "pendingCount": sum(1 for t in tasks if t.last in ("PROVISIONING", "PENDING")),
                    "deploymentConfiguration": {
                        "minimumHealthyPercent": spec.min_healthy_percent,
                        "maximumPercent": spec.max_percent,
                    },
                    "placementConstraints": [dict(c) for c in spec.placement_constraints],
                    "capacityProviderStrategy": [{"capacityProvider": p, "weight": 1} for p in spec.capacity_providers],
                    "loadBalancers": [
                        {"targetGroupArn": self.sim.target_groups[name], "containerName": name, "containerPort": 8080}
                    ]
                    if name in self.sim.target_groups
                    else [],
                    "events": [
                        {"id": f"{name}-{n}", "createdAt": datetime.fromtimestamp(at, UTC), "message": message}
                        for n, (at, message) in reversed(list(enumerate(events)))
                    ],
                }
            )
        return ActionResult({"services": services, "failures": failures})


_ANSWERED_HERE = (
    "list_container_instances",
    "describe_container_instances",
    "update_container_instances_state",
    "list_tasks",
    "describe_tasks",
    "stop_task",
    "describe_services",
)


@dataclass
class Account:
    """What the account's other users and AWS's limits add: call time, the ECS buckets, a neighbour."""

    call_seconds: float  # simulated time every AWS call from a function takes
    buckets: throttling.EcsBuckets
    neighbour: throttling.Neighbour


def _throttled() -> tuple[int, dict[str, str], str]:
    error = Throttled()
    return 400, {"status": "400", "x-amzn-ErrorType": error.error_type}, error.description


@contextmanager
def enforced(sim: EcsSimulator, log: CallLog, faults: Faults, account: Account) -> Iterator[EcsApi]:
    """While inside: ECS answers and throttles as AWS does, calls take time, every call is counted, and faults are
    injected."""
    api = EcsApi(sim)
    lifecycle = autoscaling_api.AutoScalingLifecycle(sim, sim.backend.account_id, sim.backend.region_name)
    api.lifecycle = lifecycle
    sfn_lock = threading.RLock()
    dynamodb_lock = threading.Lock()
    clock = sim.clock
    clock.on_advance(lambda t: account.neighbour.run_until(t, account.buckets))

    def call_action(response: BaseResponse) -> Any:
        service = response.service_name or "?"
        action = response._get_action()
        caller = log.caller(service, action)
        log.calls[(caller, service, action)] += 1
        if service == "ecs":
            clusters = response._get_param("clusters") or [c for c in [response._get_param("cluster")] if c]
            log.scopes.update((caller, service, action, str(c).rsplit("/", 1)[-1]) for c in clusters)
        if caller not in ("driver", "states") and account.call_seconds:
            clock.sleep(account.call_seconds)  # a call from a function takes time; it reaches AWS at the end
        if service == "ecs":
            now = clock.now()
            if caller == "DrainFunction" and faults.rng.random() < faults.ecs_throttle_share:
                allowed = False
            else:
                allowed = account.buckets.take(action, now)
            log.ecs.append(EcsCall(now, caller, action, not allowed))
            if not allowed:
                log.throttled += 1
                return _throttled()
            with sim.clock.lock:
                return moto_patches.ORIGINAL_CALL_ACTION(response)
        if service == "autoscaling" and action in autoscaling_api.ANSWERED:
            flat = {k: v[0] for k, v in (response.querystring or {}).items() if v}  # Preferences.X as sent
            params = {**flat, **{k: response._get_param(k) for k in autoscaling_api.PARAMETERS}}
            answered = lifecycle.answer(action, {k: v for k, v in params.items() if v is not None})
            if answered is not None:
                return answered
        if service == "stepfunctions":
            # moto's StartExecution is not atomic as AWS's is: the same name twice at once must give one execution
            with sfn_lock:
                return moto_patches.ORIGINAL_CALL_ACTION(response)
        if service == "dynamodb":
            if faults.dynamodb_down(clock.now()):
                return 500, {"status": "500", "x-amzn-ErrorType": "InternalServerError"}, "injected: DynamoDB down"
            # DynamoDB applies a conditional write to an item atomically; moto checks and writes in two steps
            with dynamodb_lock:
                return moto_patches.ORIGINAL_CALL_ACTION(response)
        return moto_patches.ORIGINAL_CALL_ACTION(response)

    with moto_patches.request_dispatch(call_action, {name: getattr(api, name) for name in _ANSWERED_HERE}):
        yield api
