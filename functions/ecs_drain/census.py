"""The count: which target instances still run something, and which tasks on them are still stopping.

An instance is drained when ECS no longer knows it, or when it is DRAINING with no task meant to run and every task
told to stop on it, as listed once its running tasks were gone, is STOPPED. Those tasks are *watched* (kept as ids
in the state) until they are, so no instance is listed twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from . import ecs_calls as calls
from .arns import last_part
from .ecs_calls import Instance
from .state import RemainingInstance

if TYPE_CHECKING:
    from mypy_boto3_ecs import ECSClient

    from .budget import CallBudget

# Tasks watched at once (16 bytes each in the state): every stopping task of an instance whose running tasks are
# gone, so its last one stopping is seen without listing it again. 5,000 keep the state under ~110 KB of 256 KB.
WATCH_MAX = 5000


@dataclass
class Busy:
    """An instance that still runs something: tasks meant to run, and watched tasks stopping but not STOPPED yet."""

    instance: Instance
    active: int
    watched: list[str] = field(default_factory=list)  # ids of its watched tasks not STOPPED yet
    unlisted: bool = False  # nothing runs, but its stopping tasks are still to be listed (carried over)

    @property
    def tasks(self) -> int:
        return self.active + len(self.watched)

    def report(self) -> RemainingInstance:
        return {
            "ec2InstanceId": self.instance.ec2_instance_id,
            "containerInstance": self.instance.id,
            "status": self.instance.status,
            "tasks": self.tasks,
            "stopping": len(self.watched),
        }


@dataclass
class Census:
    """The outcome of one count over the pending instances."""

    busy: list[Busy] = field(default_factory=list)
    drained: list[str] = field(default_factory=list)
    views: dict[str, Instance] = field(default_factory=dict)
    out_of_time: bool = False  # listings were left for the next check because the step's allowance ran out

    @property
    def tasks(self) -> int:
        return sum(b.tasks for b in self.busy)

    @property
    def unlisted(self) -> int:
        return sum(1 for b in self.busy if b.unlisted)

    @property
    def watched(self) -> list[str]:
        return [task for b in self.busy for task in b.watched]


def at_start(instances: Sequence[Instance]) -> Census:
    """The plan's view: every target ECS still knows, with the tasks meant to run on it."""
    return Census(busy=[Busy(i, i.active_tasks) for i in instances if i.status not in calls.GONE_STATUSES])


def count(ecs: ECSClient, cluster: str, ids: Sequence[str], watched: Sequence[str], budget: CallBudget) -> Census:
    """One pass over the instances not drained yet.

    Calls: DescribeTasks for the watched tasks (100 a call), DescribeContainerInstances (100 a call), and one
    ListTasks for each instance whose running tasks just went, as many as the step's allowance affords; the rest
    wait for the next check.
    """
    census = Census()
    still: dict[str, list[str]] = {}  # instance -> its watched tasks not STOPPED (listed instances only)
    for task_id, (instance_id, status) in calls.task_states(ecs, cluster, watched).items():
        stopping = still.setdefault(instance_id, [])
        if status != "STOPPED":
            stopping.append(task_id)
    found, missing = calls.describe_instances(ecs, cluster, ids)
    census.views = found
    census.drained.extend(sorted(missing))  # deregistered or terminated: nothing runs there any more
    to_list: list[Instance] = []
    for instance_id in sorted(found):
        instance = found[instance_id]
        if instance.status in calls.GONE_STATUSES:
            census.drained.append(instance_id)
        elif instance.active_tasks or instance.status == "ACTIVE":
            # Still ACTIVE, ECS may place tasks on it: drained only once it is DRAINING and empty.
            census.busy.append(Busy(instance, instance.active_tasks))
        elif still.get(instance_id):
            census.busy.append(Busy(instance, 0, still[instance_id]))
        elif instance_id in still:
            census.drained.append(instance_id)  # every task it was stopping is STOPPED
        else:
            to_list.append(instance)
    _list_stopping(ecs, cluster, to_list, census, budget)
    return census


def _list_stopping(ecs: ECSClient, cluster: str, instances: list[Instance], census: Census, budget: CallBudget) -> None:
    """List the tasks told to stop on instances whose running tasks are gone, while the allowance lasts."""
    room = WATCH_MAX - len(census.watched)
    home: dict[str, str] = {}
    listed: list[Instance] = []
    for instance in instances:
        if room <= 0 or not budget.affords(2):  # its ListTasks, and a share of the DescribeTasks after
            census.busy.append(Busy(instance, 0, unlisted=True))
            census.out_of_time |= room > 0
            continue
        arns = calls.stopping_tasks(ecs, cluster, instance.id)
        home.update((last_part(arn), instance.id) for arn in arns)
        room -= len(arns)
        listed.append(instance)
    stopping: dict[str, list[str]] = {i.id: [] for i in listed}
    for task_id, (_, status) in calls.task_states(ecs, cluster, sorted(home)).items():
        if status != "STOPPED":
            stopping[home[task_id]].append(task_id)
    for instance in listed:
        if stopping[instance.id]:
            census.busy.append(Busy(instance, 0, sorted(stopping[instance.id])))
        else:
            census.drained.append(instance.id)
