"""A launch hook's check, decided: would ECS place the group's tasks on the instances its new launch configuration
brings, and how the check's verdict reads.

An instance refresh (or a scale-out) launches instances of the group's new launch template; the old ones go later, a
batch at a time, each drained first (its termination hook). Room in aggregate is the drain's to judge, batch by
batch. What the launch check judges is what the new configuration changes, so that a change no batch could survive
fails on its first new instance, while the group can still go back:
- what the instance is: its attributes (the AMI's, the agent's, custom ones), platform and capacity provider, against
  each service's placement constraints and its task definition's requirements;
- its size, where the group runs the service on an instance of the same type (a new AMI that registers less memory
  shows here); of another type, the size is the drain's to judge (a group of mixed types).
Where an instance is (its Availability Zone, subnet, VPC) is not the configuration's: those attributes are taken
from an instance that runs the service today, so a constraint on a zone never fails a new instance of another zone.
What the tasks on an instance change (memberOf on task groups or running tasks, ports, network interfaces, GPUs in
use) is left to ECS and the drain.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, replace

from ..model.container_instance import InstanceFacts
from ..model.state import PREFLIGHT_FINAL_PHASES, Cause, PreflightPhase, PreflightState
from . import reason
from .findings import Observation, blocking, warnings
from .placement import Refusal, Room, TaskNeeds, fails_cpu, fails_memory

# Where an instance is, not what it is: taken from an instance that runs the service today.
PLACE_ATTRIBUTES = ("ecs.availability-zone", "ecs.subnet-id", "ecs.vpc-id")


@dataclass(frozen=True)
class ServiceOnGroup:
    """A replica service with tasks on the group's other instances: what each task needs, and where they run."""

    needs: TaskNeeds
    tasks: int
    hosts: tuple[InstanceFacts, ...]  # the group's instances that run its tasks


def refusals(needs: TaskNeeds, instance: InstanceFacts, like: InstanceFacts) -> list[Refusal]:
    """Why `instance`, empty, would not take a task: what it is (placed where `like`, a host of the service, is), and
    its registered size where `like` is of its type."""
    where = {k: like.attributes[k] for k in PLACE_ATTRIBUTES if k in like.attributes}
    kept = {k: v for k, v in instance.attributes.items() if k not in PLACE_ATTRIBUTES}
    empty = replace(instance, attributes=kept | where, running_tasks_count=0, task_groups=frozenset())
    found = Room(empty).fixed_refusals(needs)
    if _type(instance) is not None and _type(instance) == _type(like):
        if needs.cpu > instance.registered_cpu:
            found.append(Refusal(fails_cpu(needs.cpu)))
        if needs.memory > instance.registered_memory:
            found.append(Refusal(fails_memory(needs.memory)))
    return found


def _type(instance: InstanceFacts) -> str | None:
    return instance.attributes.get("ecs.instance-type")


def _host_like(service: ServiceOnGroup, instance: InstanceFacts) -> InstanceFacts | None:
    """The host of the service to compare the new instance with: one of its type, else any."""
    same = [h for h in service.hosts if _type(h) == _type(instance)]
    return next(iter(same or service.hosts), None)


def launch_findings(services: Sequence[ServiceOnGroup], new: Sequence[InstanceFacts]) -> list[Observation]:
    """Per service: none of the new instances would take its tasks (a failure, naming the rule), or the model
    could not tell for any of them (a warning). A service its own hosts would refuse today is not judged on the new
    instances: the rule is not the new configuration's doing."""
    found: list[Observation] = []
    for service in services:
        verdicts = []
        for instance in new:
            like = _host_like(service, instance)
            if like is None or any(r.judged for r in refusals(service.needs, like, like)):
                break
            verdicts.append(refusals(service.needs, instance, like))
        else:
            found += _service_findings(service, new, verdicts)
    return found


def _service_findings(
    service: ServiceOnGroup, new: Sequence[InstanceFacts], verdicts: Sequence[list[Refusal]]
) -> list[Observation]:
    if not verdicts or any(not v for v in verdicts):
        return []  # a new instance takes it
    name, ids = service.needs.service, [i.ec2_instance_id or i.id for i in new]
    judged = [r for v in verdicts for r in v if r.judged]
    if all(any(r.judged for r in v) for v in verdicts):
        detail = reason.launch_refuses(service.tasks, ids, judged[0].why, service.needs.member_of)
        return [Observation(Cause.CANNOT_PLACE, f"service {name}", service.tasks, detail)]
    unjudged = next(r for v in verdicts for r in v if not r.judged)
    return [Observation(Cause.NOT_JUDGED, f"service {name}", service.tasks, reason.launch_not_judged(unjudged.why))]


def launch_verdict(checked: PreflightState, group: str) -> PreflightState:
    """The check's verdict in the words of a launch hook: what happens to the new instances and to the change."""
    phase, target = checked["phase"], checked["newTarget"]
    if phase not in PREFLIGHT_FINAL_PHASES:
        return checked
    said = copy.deepcopy(checked)
    if phase == PreflightPhase.PASSED:
        ready = checked["newInstances"]["ready"]
        said["message"] = reason.launch_passed(target, group, ready, warnings(checked["diagnosis"]))
    elif phase == PreflightPhase.FAILED:
        said["message"] = reason.launch_failed(target, group, blocking(checked["diagnosis"]))
    elif checked["waitingFor"]:
        timeout = round(checked["deadline"] - checked["startedAt"])
        said["message"] = reason.launch_deadline(timeout, target, group, checked["waitingFor"])
    else:
        said["message"] = reason.launch_unchecked(checked["message"])
    return said
