"""Worlds to drain: a cluster on an old fleet, services on it, a new fleet coming up, CloudFormation around it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
from moto.ec2.models import ec2_backends
from moto.ecs.models import ecs_backends

from ecs_drain.runtime.observability import HOOK_DRAIN_BLOCKED, NAMESPACE, SERVICE

from . import moto_patches
from .cloudformation import Answer, CloudFormation, Request, ResponseServer, StackResource, response_server, stack_api
from .cloudwatch import MetricAlarm
from .ecs_api import Account, EcsApi, Faults, enforced
from .ecs_events import Deliveries, Delivery, EventBus
from .ecs_simulator import CapacityProviderSpec, EcsSimulator, ServiceSpec
from .offline_aws import ACCOUNT, REGION, OfflineAws
from .offline_aws import STACK as PROVIDER_STACK
from .sim_clock import SimClock
from .throttling import EcsBuckets, Neighbour
from .traffic import Traffic

CLUSTER = "web"
OLD_PROVIDER, NEW_PROVIDER = "old-capacity", "new-capacity"  # capacity providers (rollover_world's capacity_providers)
CALL_SECONDS = 0.03  # a few tens of milliseconds per AWS call, as measured from Lambda in-Region
NEIGHBOUR_READS_PER_SECOND = 5.0
EVENTS = Delivery()  # ECS events to the provider's rules: each once, 0.5 to 2.5 s late
ALARM_PERIOD_SECONDS = 60.0  # the in-place example's alarm: Maximum over 60 s
LIFECYCLE_EVENTS = Delivery(seed=12)  # Auto Scaling lifecycle action events: each once, 0.5 to 2.5 s late
FLEET = "Fleet"  # the capacity's logical id in the stack
FLEET_TYPES = {
    "SpotFleet": "AWS::EC2::SpotFleet",
    "Fleet": "AWS::EC2::EC2Fleet",
    "AutoScalingGroup": "AWS::AutoScaling::AutoScalingGroup",
}
# Checks run on every world before it is torn down (the tests add theirs: no ResponseURL leaked, ...).
ON_CLOSE: list[Callable[[World], None]] = []


def default_services() -> list[ServiceSpec]:
    """A web service behind a load balancer, a worker, and a log-shipping daemon."""
    return [
        ServiceSpec(
            "web",
            cpu=256,
            memory=512,
            desired=6,
            load_balanced=True,
            deregistration_delay=120,
            health_check_seconds=30,
            start_seconds=15,
            shutdown_seconds=5,
        ),
        ServiceSpec(
            "worker",
            cpu=512,
            memory=1024,
            desired=3,
            min_healthy_percent=50,
            max_percent=150,
            start_seconds=20,
            health_check_seconds=10,
            shutdown_seconds=20,
        ),
        ServiceSpec(
            "log-agent", cpu=128, memory=128, daemon=True, start_seconds=5, health_check_seconds=0, shutdown_seconds=2
        ),
    ]


def pinned_services() -> list[ServiceSpec]:
    """The default services and `pinned`: minimumHealthyPercent 100 and maximumPercent 100, so ECS can neither start
    a replacement nor stop a task, and its tasks never leave a draining instance."""
    return [
        *default_services(),
        ServiceSpec("pinned", cpu=256, memory=256, desired=3, min_healthy_percent=100, max_percent=100),
    ]


@dataclass
class Fleet:
    request_id: str  # the target's id: Spot Fleet request id, EC2 Fleet id or Auto Scaling group name
    ec2_ids: list[str]
    container_ids: list[str] = field(default_factory=list)
    kind: str = "SpotFleet"
    deleted: bool = False  # its instances are terminated: those not registered yet never will


@dataclass
class ConsumerStack:
    """A stack with a Custom::ECSDrain on its fleet in the cluster: its CloudFormation, its old and new fleets."""

    cfn: CloudFormation
    old: Fleet
    new: Fleet | None
    properties: dict[str, Any]
    physical_id: str = ""
    logical_id: str = "ECSDrain"  # the Custom::ECSDrain's logical id in its stack
    fleet_id: str = "Fleet"  # its fleet's


@dataclass
class World:
    aws: OfflineAws
    sim: EcsSimulator
    api: EcsApi
    faults: Faults
    account: Account
    server: ResponseServer
    cfn: CloudFormation
    old: Fleet
    new: Fleet | None
    properties: dict[str, Any]
    physical_id: str = ""
    others: list[Fleet] = field(default_factory=list)  # more old fleets, each another consumer stack's
    old_fleet_gone_at: float | None = None  # when CloudFormation deleted the old fleet
    ecs_events: dict[str, Deliveries] = field(default_factory=dict)  # per ECS rule, what EventBridge delivered
    lifecycle_events: dict[str, Deliveries] = field(default_factory=dict)  # per Auto Scaling rule, the same
    bus: EventBus | None = None  # the account's event bus, where a test may put rules of its own
    second: ConsumerStack | None = None  # the other consumer stack second_stack made, if any

    def drain_old(self, wall_seconds: float = 120.0, **policy: Any) -> tuple[Request, Answer | None]:
        """The Delete of the old fleet's resource, as CloudFormation sends it in cleanup, and its answer."""
        props = {**self.properties, **policy}
        request = self.cfn.request("Delete", "ECSDrain", props, physical_id=self.physical_id)
        self.cfn.send(request)
        return request, self.cfn.wait_for_answer(request, wall_seconds=wall_seconds)

    def rollover(self, **policy: Any) -> tuple[Answer | None, Answer | None]:
        """A replacement update to the new fleet, as CloudFormation runs it (UPDATE_IN_PROGRESS: the new fleet exists,
        then the Update). Answered SUCCESS with a new id: the cleanup's Delete of the old (the drain, tried up to three
        times while it fails), then the old fleet is deleted, terminating its instances: after SUCCESS, and, in this
        model, also after the third failure, since the cleanup goes on (AWS does not say whether it deletes what the
        skipped resource depended on; the emulation takes the unsafe reading). Answered FAILED: the rollback (the
        reverse Update; then CloudFormation deletes the new fleet). Returns the Update's answer, the last Delete's."""
        return self.roll(ConsumerStack(self.cfn, self.old, self.new, self.properties, self.physical_id), **policy)

    def roll(self, consumer: ConsumerStack, **policy: Any) -> tuple[Answer | None, Answer | None]:
        """`rollover`, of any consumer stack of the cluster."""
        assert consumer.new is not None
        new, cfn = consumer.new, consumer.cfn
        cfn.set_status("UPDATE_IN_PROGRESS")
        cfn.resources[consumer.fleet_id] = _fleet_resource(new)  # the replacement is created first
        _update, update = cfn.update(consumer.logical_id, *_properties(consumer, policy), consumer.physical_id)
        if update is None or update.body["Status"] != "SUCCESS":
            self._roll_back(consumer, update, policy)
            if cfn.status != "UPDATE_ROLLBACK_FAILED":
                cfn.rolled_back()
            return update, None
        answer = self._clean_up(consumer, update, policy)
        cfn.set_status("UPDATE_COMPLETE")
        return update, answer

    def _roll_back(self, consumer: ConsumerStack, update: Answer | None, policy: dict[str, Any]) -> None:
        """One resource's rollback: its reverse Update (or the Delete of the replacement it answered), then what the
        update created goes, unless the rollback failed."""
        assert consumer.new is not None
        consumer.cfn.resources[consumer.fleet_id] = _fleet_resource(consumer.old)
        old_properties, new_properties = _properties(consumer, policy)
        consumer.cfn.roll_back(consumer.logical_id, old_properties, new_properties, update, consumer.physical_id)
        if consumer.cfn.status != "UPDATE_ROLLBACK_FAILED":
            self.delete_fleet(consumer.new)  # what the update created, deleted with no request to the resource

    def _clean_up(self, consumer: ConsumerStack, update: Answer, policy: dict[str, Any]) -> Answer | None:
        """One resource's cleanup after its Update passed: the Delete of its old id, then its old fleet goes."""
        cfn, new_id = consumer.cfn, update.body["PhysicalResourceId"]
        cfn.resources[consumer.logical_id] = StackResource(new_id, "Custom::ECSDrain", "UPDATE_COMPLETE")
        if new_id == consumer.physical_id:
            return None
        old_properties, _new = _properties(consumer, policy)
        _delete, answer = cfn.clean_up(consumer.logical_id, old_properties, consumer.physical_id)
        if (answer is not None and answer.body["Status"] == "SUCCESS") or consumer.logical_id in cfn.skipped:
            self.delete_fleet(consumer.old)
        return answer

    def roll_one_stack(
        self, consumers: list[ConsumerStack], **policy: Any
    ) -> list[tuple[Answer | None, Answer | None]]:
        """Fleets of one stack (two Custom::ECSDrain resources of one CloudFormation) replaced in one Update: their
        Updates at once; one not SUCCESS rolls every one back (each gets its reverse Update, or the Delete of the
        replacement it answered, and every new fleet goes); all SUCCESS, their Deletes in the cleanup, at once."""
        cfn = consumers[0].cfn
        cfn.set_status("UPDATE_IN_PROGRESS")
        for consumer in consumers:
            assert consumer.new is not None and consumer.cfn is cfn
            cfn.resources[consumer.fleet_id] = _fleet_resource(consumer.new)
        updates = at_once(
            [lambda c=c: cfn.update(c.logical_id, *_properties(c, policy), c.physical_id)[1] for c in consumers]
        )
        if any(u is None or u.body["Status"] != "SUCCESS" for u in updates):
            for consumer, update in zip(consumers, updates, strict=True):
                self._roll_back(consumer, update, policy)
            if cfn.status != "UPDATE_ROLLBACK_FAILED":
                cfn.rolled_back()
            return [(update, None) for update in updates]
        deletes = at_once(
            [lambda c=c, u=u: self._clean_up(c, u, policy) for c, u in zip(consumers, updates, strict=True)]
        )
        cfn.set_status("UPDATE_COMPLETE")
        return list(zip(updates, deletes, strict=True))

    def roll_at_once(self, consumers: list[ConsumerStack], **policy: Any) -> list[tuple[Answer | None, Answer | None]]:
        """The consumer stacks' rollovers, started together (one AMI parameter, many stacks): each as `roll` runs
        it, in a thread of its own; their answers in the order given."""
        return at_once([lambda c=c: self.roll(c, **policy) for c in consumers])

    def bind_termination_hook(self, hook: str, heartbeat: int, **policy: Any) -> Answer | None:
        """The old group gets a termination hook (as its LifecycleHookSpecificationList declares it), and the stack's
        Custom::ECSDrain names it (an Update, in place): the provider's answer."""
        return self.bind_hooks({"TerminationHook": (hook, heartbeat)}, **policy)

    def bind_hooks(self, hooks: dict[str, tuple[str, int]], **policy: Any) -> Answer | None:
        """The old group gets the hooks (`TerminationHook` or `LaunchHook`: name and HeartbeatTimeout), as its
        LifecycleHookSpecificationList declares them, and the stack's Custom::ECSDrain names them (an Update, in
        place): the provider's answer."""
        transitions = {"TerminationHook": "TERMINATING", "LaunchHook": "LAUNCHING"}
        with self.aws.calls.acting_as("driver"):
            for prop, (hook, heartbeat) in hooks.items():
                self.aws.client("autoscaling").put_lifecycle_hook(
                    AutoScalingGroupName=self.old.request_id,
                    LifecycleHookName=hook,
                    LifecycleTransition=f"autoscaling:EC2_INSTANCE_{transitions[prop]}",
                    HeartbeatTimeout=heartbeat,
                    DefaultResult="CONTINUE",
                )
        new = {**self.properties, **{prop: hook for prop, (hook, _) in hooks.items()}, **policy}
        self.cfn.set_status("UPDATE_IN_PROGRESS")
        _request, answer = self.cfn.update("ECSDrain", self.properties, new, self.physical_id)
        self.cfn.set_status("UPDATE_COMPLETE")
        if answer is not None and answer.body["Status"] == "SUCCESS":
            self.properties = new
        return answer

    def alarm_on_hook_drains(self, alarm: str) -> MetricAlarm:
        """A CloudWatch alarm on ecs-drain's HookDrainBlocked for the old group (Maximum >= 1 over 60 s), as the
        in-place example declares it, evaluated every 60 simulated seconds on what the functions published; in
        ALARM, a refresh of the group that names it in its AlarmSpecification fails."""
        group = self.old.request_id
        dimensions = {"AutoScalingGroupName": group, "service": SERVICE}  # as Powertools publishes it
        watched = MetricAlarm(alarm, NAMESPACE, HOOK_DRAIN_BLOCKED, dimensions)

        def evaluate_at(when: float) -> None:
            def evaluate() -> None:
                if watched.evaluate(self.aws.output) and self.api.lifecycle is not None:
                    self.api.lifecycle.alarm(group, alarm)
                evaluate_at(when + ALARM_PERIOD_SECONDS)  # from the period's end: the simulator may run behind

            self.sim.at(when, evaluate)

        evaluate_at(self.aws.clock.now() + ALARM_PERIOD_SECONDS)
        return watched

    def refresh_in_place(
        self,
        wall_seconds: float = 120.0,
        until: float | None = None,
        registers: bool = True,
        attributes: tuple[dict[str, str] | None, dict[str, str] | None] = (None, None),
        **preferences: Any,
    ) -> dict[str, Any]:
        """An instance refresh of the old fleet's Auto Scaling group (as CloudFormation's AutoScalingInstanceRefresh
        policy starts one after a launch template change), run until it ends (or `until`, simulated time); its
        DescribeInstanceRefreshes entry.
        The instances it launches register in the cluster (the world's `new` fleet) REFRESH_REGISTERS_SECONDS after
        launch, as the new fleet's do; `attributes`: the custom attributes of those of the new configuration, and of
        a rollback's (the configuration of before)."""
        assert self.api.lifecycle is not None
        self.api.lifecycle.on_launch = self._in_place_fleet(registers, attributes)
        autoscaling = self.aws.client("autoscaling")
        with self.aws.calls.acting_as("driver"):
            autoscaling.start_instance_refresh(AutoScalingGroupName=self.old.request_id, Preferences=preferences)
        return self._refresh_ended(wall_seconds, until)

    def update_in_place(
        self,
        wall_seconds: float = 120.0,
        until: float | None = None,
        registers: bool = True,
        attributes: tuple[dict[str, str] | None, dict[str, str] | None] = (None, None),
        **preferences: Any,
    ) -> tuple[dict[str, Any], str]:
        """A stack update that changes the old group's launch template under CloudFormation's
        AutoScalingInstanceRefresh policy (refresh_in_place's instances and preferences): UPDATE_COMPLETE once the
        refresh succeeds; when it fails, the update rolls back: the template reverted, a refresh back (the same
        preferences) replaces what the failed one launched, then UPDATE_ROLLBACK_COMPLETE. The first refresh's
        DescribeInstanceRefreshes entry, and the stack's status at the end (or at `until`)."""
        self.cfn.set_status("UPDATE_IN_PROGRESS")
        refresh = self.refresh_in_place(wall_seconds, until, registers, attributes, **preferences)
        if refresh["Status"] == "Successful":
            self.cfn.set_status("UPDATE_COMPLETE")
        elif refresh["Status"] == "Failed":
            assert self.api.lifecycle is not None
            self.cfn.set_status("UPDATE_ROLLBACK_IN_PROGRESS")
            self.api.lifecycle.refresh_back(self.old.request_id)
            back = self._refresh_ended(wall_seconds, until)["Status"]
            if back in ("Successful", "Failed"):
                self.cfn.set_status("UPDATE_ROLLBACK_COMPLETE" if back == "Successful" else "UPDATE_ROLLBACK_FAILED")
        return refresh, self.cfn.status

    def _refresh_ended(self, wall_seconds: float, until: float | None) -> dict[str, Any]:
        """The old group's refresh, once it ended (or at `until`, simulated time)."""
        autoscaling = self.aws.client("autoscaling")
        deadline = time.monotonic() + wall_seconds
        while time.monotonic() < deadline:
            self.aws.clock.advance(5)
            with self.aws.calls.acting_as("driver"):
                [refresh] = autoscaling.describe_instance_refreshes(AutoScalingGroupName=self.old.request_id)[
                    "InstanceRefreshes"
                ]
            if refresh["Status"] not in ("Pending", "InProgress", "RollbackInProgress"):
                return dict(refresh)
            if until is not None and self.aws.clock.now() >= until:
                return dict(refresh)  # still under way at `until` (simulated time)
        raise TimeoutError(f"the instance refresh of {self.old.request_id} did not end in {wall_seconds} s")

    def scale_out_in_place(self, count: int) -> None:
        """The old fleet's group grows by `count` (SetDesiredCapacity): the instances it launches register in the
        cluster as a refresh's do (the world's `new` fleet), held first by the group's launch hooks, if any."""
        assert self.api.lifecycle is not None
        self.api.lifecycle.on_launch = self._in_place_fleet()
        autoscaling = self.aws.client("autoscaling")
        with self.aws.calls.acting_as("driver"):
            [group] = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[self.old.request_id])[
                "AutoScalingGroups"
            ]
            autoscaling.set_desired_capacity(
                AutoScalingGroupName=self.old.request_id, DesiredCapacity=group["DesiredCapacity"] + count
            )

    def rolling_update(self, max_batch_size: int, pause_seconds: float) -> float:
        """CloudFormation's AutoScalingRollingUpdate of the old fleet's group, as it is reported to run (the shared
        reference: amazon-eks-ami 66, buildkite elastic-ci-stack 130): per batch of MaxBatchSize old instances, it
        terminates them (through the group's termination hooks, which hold them) and launches their replacements,
        then waits PauseTime and goes on, whether the hooks still hold the batch or not. AWS does not document
        whether it waits for termination hooks: this is the unsafe reading. When it ended (simulated time)."""
        assert self.api.lifecycle is not None
        registered = self._in_place_fleet()
        self.api.lifecycle.on_launch = lambda _ec2_id, _before: None  # registered below, hook or not
        autoscaling, group = self.aws.client("autoscaling"), self.old.request_id
        old = list(self.old.ec2_ids)
        for start in range(0, len(old), max_batch_size):
            with self.aws.calls.acting_as("driver"):
                before = set(self._group_instances(autoscaling))
                for instance in old[start : start + max_batch_size]:
                    autoscaling.terminate_instance_in_auto_scaling_group(
                        InstanceId=instance, ShouldDecrementDesiredCapacity=True
                    )
                autoscaling.set_desired_capacity(AutoScalingGroupName=group, DesiredCapacity=len(old))
                for instance in set(self._group_instances(autoscaling)) - before:
                    registered(instance, False)
            self.aws.clock.advance(pause_seconds)
        return self.aws.clock.now()

    def _group_instances(self, autoscaling: Any) -> list[str]:
        described = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[self.old.request_id])
        return [i["InstanceId"] for i in described["AutoScalingGroups"][0]["Instances"]]

    def _in_place_fleet(
        self, registers: bool = True, attributes: tuple[dict[str, str] | None, dict[str, str] | None] = (None, None)
    ) -> Callable[[str, bool], None]:
        """The world's `new` fleet, for the instances an in-place change launches into the old fleet's group: each
        registers in the cluster REFRESH_REGISTERS_SECONDS after launch, with the old instances' size (`registers`
        False: never, a bad AMI whose agent does not start; a rollback's, launched with the configuration of
        before, still do)."""
        assert self.old.kind == "AutoScalingGroup"
        fleet = self.new = Fleet(self.old.request_id, [], kind="AutoScalingGroup")
        resources = self.sim.instances[self.old.container_ids[0]].registered_resources
        registered = {r["name"]: r.get("integerValue", 0) for r in resources}
        size = (int(registered["CPU"]), int(registered["MEMORY"]))  # the old instances' type

        def launched(ec2_id: str, before: bool) -> None:
            fleet.ec2_ids.append(ec2_id)
            if not (registers or before):
                return
            when, custom = self.sim.clock.now() + REFRESH_REGISTERS_SECONDS, attributes[1 if before else 0]
            self.sim.at(when, lambda: _register(self.sim, fleet, ec2_id, size, custom, frozenset(), None))

        return launched

    def consumer(self) -> ConsumerStack:
        """The world's own consumer stack."""
        return ConsumerStack(self.cfn, self.old, self.new, self.properties, self.physical_id)

    def second_stack(
        self, new_instances: int, size: tuple[int, int], registers_at: float = 60.0, *, same_stack: bool = False
    ) -> ConsumerStack:
        """Another consumer stack in the cluster (`same_stack`: a second fleet of the world's own stack, with a
        Custom::ECSDrain of its own): its old fleet is `others[0]` (serving the same services), its new one
        `new_instances` instances of `size` (CPU units, MiB) registering from `registers_at` s on."""
        old = self.others[0]
        new = make_fleet(old.kind, new_instances)
        for n, ec2_id in enumerate(new.ec2_ids):
            when = self.aws.clock.now() + registers_at + 5 * n
            self.sim.at(when, lambda e=ec2_id: _register(self.sim, new, e, size, None, frozenset(), None))
        cfn = self.cfn if same_stack else CloudFormation(self.aws, self.server, stack_name="other-stack")
        logical_id, fleet_id = ("SecondDrain", "SecondFleet") if same_stack else ("ECSDrain", FLEET)
        cfn.resources[fleet_id] = _fleet_resource(old)
        props = {**self.properties, old.kind: old.request_id}
        _request, created = cfn.create(logical_id, props)
        assert created is not None and created.body["Status"] == "SUCCESS", created
        self.second = ConsumerStack(cfn, old, new, props, created.body["PhysicalResourceId"], logical_id, fleet_id)
        return self.second

    def remove(self, *, with_fleet: bool = False, **policy: Any) -> Answer | None:
        """An update that removes the Custom::ECSDrain from the template (and the fleet too, `with_fleet`): its Delete
        comes in the cleanup, then CloudFormation deletes the fleet if it was removed as well."""
        cfn, properties = self.cfn, {**self.properties, **policy}
        cfn.set_status("UPDATE_IN_PROGRESS")
        cfn.resources["ECSDrain"].in_template = False
        if with_fleet:
            cfn.resources[FLEET].in_template = False
        cfn.resources["ECSDrain"].status = "DELETE_IN_PROGRESS"
        _delete, answer = cfn.clean_up("ECSDrain", properties, self.physical_id)
        if answer is not None and answer.body["Status"] == "SUCCESS":
            del cfn.resources["ECSDrain"]
            if with_fleet:
                self.delete_fleet(self.old)
                del cfn.resources[FLEET]
        cfn.set_status("UPDATE_COMPLETE")
        return answer

    def drain_stacks_at_once(self, wall_seconds: float) -> tuple[float, list[Answer | None]]:
        """The old fleet and the `others`, each another consumer stack's Custom::ECSDrain: created, then all their
        Deletes sent together, as a platform team's AMI roll-out sends them. When they were sent, and each answer
        (in the order of [old, *others])."""
        drivers, requests = [], []
        for n, fleet in enumerate([self.old, *self.others]):
            cfn = CloudFormation(self.aws, self.server, stack_name=f"consumer-{n}")
            props = {**self.properties, "SpotFleet": fleet.request_id}
            _create, created = cfn.create("ECSDrain", props)
            assert created is not None and created.body["Status"] == "SUCCESS", created
            drivers.append(cfn)
            requests.append(cfn.request("Delete", "ECSDrain", props, physical_id=created.body["PhysicalResourceId"]))
        self.aws.calls.reset()
        self.account.neighbour.calls = self.account.neighbour.throttled = 0
        sent_at = self.aws.clock.now()
        at_once([lambda d=d, r=r: d.send(r) for d, r in zip(drivers, requests, strict=True)])
        return sent_at, [
            d.wait_for_answer(r, wall_seconds=wall_seconds) for d, r in zip(drivers, requests, strict=True)
        ]

    def delete_fleet(self, fleet: Fleet) -> None:
        """What CloudFormation does to the old capacity once the drain answered SUCCESS."""
        if fleet.kind == "SpotFleet":
            self.aws.client("ec2").cancel_spot_fleet_requests(
                SpotFleetRequestIds=[fleet.request_id], TerminateInstances=True
            )
        elif fleet.kind == "Fleet":
            self.aws.client("ec2").delete_fleets(FleetIds=[fleet.request_id], TerminateInstances=True)
        else:
            self.aws.client("autoscaling").delete_auto_scaling_group(
                AutoScalingGroupName=fleet.request_id, ForceDelete=True
            )
        with self.sim.clock.lock:
            fleet.deleted = True
            fleet.container_ids += self.sim.scaled_out.pop(fleet.request_id, [])  # what managed scaling added
            for instance_id in fleet.container_ids:
                self.sim.terminate_instance(instance_id)
            self.sim.instances_changed()  # ECS replaces what was lost at once, not at the clock's next step
        which = "old" if fleet is self.old or fleet in self.others else "new"
        self.cfn.events.append((self.sim.clock.now(), f"{which} {fleet.kind} {fleet.request_id} deleted"))
        if fleet is self.old:
            self.old_fleet_gone_at = self.sim.clock.now()


def _fleet_resource(fleet: Fleet) -> StackResource:
    return StackResource(fleet.request_id, FLEET_TYPES.get(fleet.kind, "AWS::EC2::Instance"))


def _properties(consumer: ConsumerStack, policy: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The resource's old and new properties in its rollover (the new ones name the new fleet)."""
    assert consumer.new is not None
    new = {**consumer.properties, consumer.new.kind: consumer.new.request_id, **policy}
    return {**consumer.properties, **policy}, new


def at_once[T](calls: list[Callable[[], T]]) -> list[T]:
    """Each call in a thread of its own, together, as CloudFormation works on resources that do not depend on each
    other; their results in order."""
    results: list[Any] = [None] * len(calls)

    def run(n: int) -> None:
        results[n] = calls[n]()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def services(cluster: int, tasks_per_instance: int, deregistration_delay: float = 30) -> list[ServiceSpec]:
    """Ten services with `tasks_per_instance` tasks per instance of a `cluster`-instance cluster between them."""
    count = max(1, cluster * tasks_per_instance // 10)
    return [
        ServiceSpec(
            f"svc{n}",
            cpu=128,
            memory=128,
            desired=count,
            deregistration_delay=deregistration_delay,
            min_healthy_percent=50,
        )
        for n in range(10)
    ]


def make_fleet(kind: str, count: int, instance_type: str = "c5.large", max_size: int | None = None) -> Fleet:
    """Capacity of one kind a Custom::ECSDrain can target: SpotFleet, Fleet (EC2 Fleet) or AutoScalingGroup."""
    ec2 = boto3.client("ec2", region_name=REGION)
    image = _any_ami()
    if kind == "SpotFleet":
        request_id = ec2.request_spot_fleet(
            SpotFleetRequestConfig={
                "IamFleetRole": f"arn:aws:iam::{ACCOUNT}:role/spot-fleet",
                "TargetCapacity": count,
                "LaunchSpecifications": [{"ImageId": image, "InstanceType": instance_type}],
                "AllocationStrategy": "lowestPrice",
            }
        )["SpotFleetRequestId"]
        instances = ec2.describe_spot_fleet_instances(SpotFleetRequestId=request_id)["ActiveInstances"]
        return Fleet(request_id, sorted(i["InstanceId"] for i in instances), kind=kind)
    name = f"ecs-{kind.lower()}-{len(ec2_backends[ACCOUNT][REGION].launch_templates)}"
    template = ec2.create_launch_template(
        LaunchTemplateName=name, LaunchTemplateData={"ImageId": image, "InstanceType": instance_type}
    )["LaunchTemplate"]["LaunchTemplateId"]
    if kind == "Fleet":
        fleet_id = ec2.create_fleet(
            Type="maintain",
            LaunchTemplateConfigs=[{"LaunchTemplateSpecification": {"LaunchTemplateId": template, "Version": "1"}}],
            TargetCapacitySpecification={"TotalTargetCapacity": count, "DefaultTargetCapacityType": "on-demand"},
        )["FleetId"]
        instances = ec2.describe_fleet_instances(FleetId=fleet_id)["ActiveInstances"]
        return Fleet(fleet_id, sorted(i["InstanceId"] for i in instances), kind=kind)
    autoscaling = boto3.client("autoscaling", region_name=REGION)
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=name,
        MinSize=count,
        MaxSize=max(count, max_size or count),
        DesiredCapacity=count,
        LaunchTemplate={"LaunchTemplateId": template, "Version": "1"},
        AvailabilityZones=[f"{REGION}a"],
    )
    group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
    return Fleet(name, sorted(i["InstanceId"] for i in group["Instances"]), kind=kind)


def _any_ami() -> str:
    # Any AMI moto knows stands in for the ECS-optimized one (DescribeImages of all of them is slow).
    return str(sorted(ec2_backends[ACCOUNT][REGION].amis)[0])


def plain_instances(count: int, instance_type: str = "c5.large") -> Fleet:
    """Instances started with RunInstances: capacity that is no fleet's (quick to make by the thousand)."""
    ids = moto_patches.run_plain_instances(ACCOUNT, REGION, _any_ami(), instance_type, count)
    return Fleet("", sorted(ids))


@contextmanager
def rollover_world(
    *,
    old_instances: int = 3,
    new_instances: int = 3,
    services: list[ServiceSpec] | None = None,
    new_fleet_registers: tuple[float, float] | None = (45.0, 100.0),
    instance_cpu: int = 2048,
    instance_memory: int = 3840,
    standalone: list[tuple[int, float | None]] | None = None,  # (old instance index, seconds or None)
    pace: float = 0.0,
    log_level: str = "INFO",
    properties: dict[str, Any] | None = None,
    create: bool = True,
    kind: str = "SpotFleet",
    other_old_fleets: int = 0,  # more fleets of `old_instances`, for drains of other stacks at the same time
    call_seconds: float = CALL_SECONDS,
    neighbour_reads_per_second: float = NEIGHBOUR_READS_PER_SECOND,
    old_attributes: dict[str, str] | None = None,  # custom attributes of the old fleet's instances (memberOf)
    new_attributes: dict[str, str] | None = None,  # the new fleet's (by default: none)
    new_instance_size: tuple[int, int] | None = None,  # CPU units and MiB of the new fleet's instances
    old_instance_type: str = "c5.large",
    new_instance_type: str | None = None,  # by default the old fleet's
    # A new AMI whose agent does not register these capability attributes (older, or misconfigured).
    new_missing_capabilities: frozenset[str] = frozenset(),
    # Capacity providers: the old fleet's instances in OLD_PROVIDER, the new fleet's in NEW_PROVIDER, whose managed
    # scaling grows the new group (an Auto Scaling group: kind="AutoScalingGroup") up to `new_fleet_max`.
    capacity_providers: bool = False,
    new_fleet_max: int | None = None,
    # A broken new fleet: "agent" (its instances run in EC2 but never register: the agent does not start) or
    # "containers" (they register, but no container starts on them: tasks there stay PENDING).
    new_fleet_fault: str | None = None,
    traffic: Traffic | None = None,  # requests to the load-balanced services, counted from the steady state on
    provider_parameters: dict[str, str] | None = None,  # the ecs-drain provider stack's parameter overrides
    # How EventBridge delivers ECS events to the provider's rules (None: ECS sends none, as if EventBridge were down).
    ecs_events: Delivery | None = EVENTS,
    # How it delivers Auto Scaling's lifecycle action events (None: none come).
    lifecycle_events: Delivery | None = LIFECYCLE_EVENTS,
) -> Iterator[World]:
    """An ECS cluster on an old Spot Fleet, with a new fleet whose instances register over time."""
    with ExitStack() as stack:
        aws = stack.enter_context(OfflineAws(SimClock(), log_level=log_level, parameters=provider_parameters))
        boto3.client("ecs", region_name=REGION).create_cluster(clusterName=CLUSTER)
        sim = EcsSimulator(ecs_backends[ACCOUNT][REGION], CLUSTER, aws.clock)
        sim.traffic = traffic
        bus = EventBus(sim, ACCOUNT, REGION)
        deliveries = aws.connect_event_rules(bus, ecs_events, lifecycle_events)
        from_ecs = {rule.name for rule in aws.bus_rules if rule.source == "aws.ecs"}
        aws.connect_schedules()
        faults = Faults()
        now = aws.clock.now()
        account = Account(call_seconds, EcsBuckets.full(now), Neighbour(neighbour_reads_per_second, now))
        api = stack.enter_context(enforced(sim, aws.calls, faults, account))
        assert api.lifecycle is not None
        api.lifecycle.publish = bus.publish  # Auto Scaling's lifecycle events go to the same bus
        stack.enter_context(moto_patches.fast_instance_lookup(ACCOUNT, REGION))
        old = make_fleet(kind, old_instances, old_instance_type)
        old_provider = OLD_PROVIDER if capacity_providers else None
        old.container_ids = [
            sim.register_instance(i, instance_cpu, instance_memory, old_attributes, capacity_provider=old_provider)
            for i in old.ec2_ids
        ]
        others = [make_fleet(kind, old_instances) for _ in range(other_old_fleets)]
        for fleet in others:
            fleet.container_ids = [sim.register_instance(i, instance_cpu, instance_memory) for i in fleet.ec2_ids]
        new = None
        if new_instances and new_fleet_registers is None:  # other capacity, there from the start
            new = plain_instances(new_instances, new_instance_type or old_instance_type)
        elif new_instances:
            new = make_fleet(kind, new_instances, new_instance_type or old_instance_type, new_fleet_max)
        if capacity_providers and new is not None:
            size = new_instance_size or (instance_cpu, instance_memory)
            sim.add_capacity_provider(CapacityProviderSpec(NEW_PROVIDER, new.request_id, instance_size=size))
        if new is not None and new_fleet_registers is None:
            new.container_ids = [sim.register_instance(i, instance_cpu, instance_memory) for i in new.ec2_ids]
        for spec in services if services is not None else default_services():
            sim.add_service(spec)
        _target_groups(sim)
        sim.run_until(aws.clock.now())
        # The services reach steady state (placed, started, healthy: 40 s by default) before anything happens.
        # Requests are counted from then on, COUNTING_LEAD_SECONDS before the world is handed over: every request in
        # flight when a rollover begins (the longest take 20 s) is counted, whether it is served or fails.
        aws.clock.advance(STEADY_SECONDS - COUNTING_LEAD_SECONDS)
        if traffic is not None:
            traffic.count_from(aws.clock.now())
        aws.clock.advance(COUNTING_LEAD_SECONDS)
        sim.record.lowest_healthy.clear()  # availability is measured from steady state on
        for index, seconds in standalone or []:
            sim.run_standalone(old.container_ids[index], "nightly-report", cpu=256, memory=256, seconds=seconds)
        if new is not None and new_fleet_registers is not None and new_fleet_fault != "agent":
            if new_fleet_fault == "containers":
                sim.containers_fail_on |= set(new.ec2_ids)
            size = new_instance_size or (instance_cpu, instance_memory)
            first, last = new_fleet_registers
            step = (last - first) / max(1, new_instances - 1)
            for n, ec2_id in enumerate(new.ec2_ids):
                sim.at(
                    aws.clock.now() + first + n * step,
                    lambda e=ec2_id, f=new: _register(
                        sim,
                        f,
                        e,
                        size,
                        new_attributes,
                        new_missing_capabilities,
                        NEW_PROVIDER if capacity_providers else None,
                    ),
                )
        if old_instances + new_instances <= 100:  # the picture: per-instance samples
            sim.watched = set(old.container_ids) | set(new.container_ids if new else [])
        server = stack.enter_context(response_server(aws))
        stack.enter_context(stack_api(aws.calls, aws.exports, (PROVIDER_STACK, aws.outputs)))
        cfn = CloudFormation(aws, server)
        cfn.resources[FLEET] = StackResource(old.request_id, FLEET_TYPES[kind])
        props = {"Cluster": CLUSTER, kind: old.request_id, "PollIntervalSeconds": "15", **(properties or {})}
        world = World(aws, sim, api, faults, account, server, cfn, old, new, props, others=others, bus=bus)
        world.ecs_events = {name: counts for name, counts in deliveries.items() if name in from_ecs}
        world.lifecycle_events = {name: counts for name, counts in deliveries.items() if name not in from_ecs}
        if create:
            _request, answer = cfn.create("ECSDrain", props)
            assert answer is not None and answer.body["Status"] == "SUCCESS", answer
            world.physical_id = answer.body["PhysicalResourceId"]
        aws.calls.reset()
        account.neighbour.calls = account.neighbour.throttled = 0
        account.neighbour.throttled_at.clear()
        aws.clock.pace = pace  # from here on, a person may be watching
        yield world
        for check in ON_CLOSE:
            check(world)


def _target_groups(sim: EcsSimulator) -> None:
    """A target group for each load-balanced service, with its deregistration delay, as DescribeServices names it."""
    load_balanced = [spec for spec in sim.services.values() if spec.load_balanced]
    if not load_balanced:
        return
    elbv2 = boto3.client("elbv2", region_name=REGION)
    vpcs = boto3.client("ec2", region_name=REGION).describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])
    for spec in load_balanced:
        group = elbv2.create_target_group(
            Name=f"{spec.name}-tg", Protocol="HTTP", Port=8080, VpcId=vpcs["Vpcs"][0]["VpcId"]
        )
        arn = group["TargetGroups"][0]["TargetGroupArn"]
        delay = {"Key": "deregistration_delay.timeout_seconds", "Value": str(round(spec.deregistration_delay))}
        elbv2.modify_target_group_attributes(TargetGroupArn=arn, Attributes=[delay])
        sim.target_groups[spec.name] = arn


STEADY_SECONDS = 120
REFRESH_REGISTERS_SECONDS = 45.0  # from launch to the ECS agent registering, as a new fleet's instances do
COUNTING_LEAD_SECONDS = 30


def _register(
    sim: EcsSimulator,
    fleet: Fleet,
    ec2_id: str,
    size: tuple[int, int],
    attributes: dict[str, str] | None,
    missing_capabilities: frozenset[str],
    capacity_provider: str | None,
) -> None:
    if fleet.deleted:
        return  # terminated before its agent started
    instance_id = sim.register_instance(
        ec2_id, *size, attributes, missing_capabilities=missing_capabilities, capacity_provider=capacity_provider
    )
    fleet.container_ids.append(instance_id)
    if sim.watched:
        sim.watched.add(instance_id)
