"""Why a drain cannot finish: findings named by service or task group, with how many tasks and since when.

Read from what ECS reports, within the drain's call budget: DescribeServices (deployment configuration, placement
constraints, counts and the service's own events), the service's tasks (ListTasks by service, DescribeTasks) for
the few services a finding is about, and the running tasks of instances that still hold some (ListTasks,
DescribeTasks). No finding is guessed from names.

Findings, and which of them block, are kept and merged in `findings`.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..aws import ecs_calls as calls
from ..aws.ecs_calls import ServiceView
from ..decisions import reason
from ..decisions.findings import Observation, blocking, merge
from ..model.arns import last_part
from ..model.state import (
    Cause,
    DrainState,
    Finding,
    Spare,
)
from .capacity import has_room

if TYPE_CHECKING:
    from mypy_boto3_ecs import ECSClient

    from ..aws.budget import CallBudget
    from .census import Census

VERIFY_MAX_INSTANCES = 50  # busy instances whose tasks are listed before answering early
# Instances whose running tasks are listed per check to find standalone tasks, when the drain is not progressing
# or few instances are left with running tasks (two reads each).
STANDALONE_LISTINGS = 10
# How long service tasks on a draining instance may take to be replaced (placement, start, a health check or two).
REPLACEMENT_GRACE_SECONDS = 120
# How long waiting for room is normal: the replacement fleet's instances boot, start the ECS agent and register.
CAPACITY_GRACE_SECONDS = 300
UNABLE_TO_PLACE = "was unable to place a task"
_CLOSEST = re.compile(r"The closest matching container-instance \S+ (?P<why>[^.]+)\.")


@dataclass(frozen=True)
class Gate:
    """The capacity gate as this check left it: still waiting for room, its last reading (also once it opened),
    and since when the targets have been DRAINING (None: not yet)."""

    waiting: bool
    spare: Spare | None
    draining_since: float | None


@dataclass(frozen=True)
class Looked:
    """What a step diagnoses from: the cluster's services and the count, read through `ecs` within `budget`, at
    `now`."""

    ecs: ECSClient
    budget: CallBudget
    services: Sequence[ServiceView]
    census: Census
    now: float


@dataclass(frozen=True)
class StandaloneWait:
    """StandaloneTasks WAIT: the tasks of no service are looked for, more of them once the drain stopped progressing
    (`progressed`: fewer tasks or instances left than at the last check)."""

    progressed: bool


def diagnose(state: DrainState, gate: Gate, looked: Looked, standalone: StandaloneWait | None = None) -> list[Finding]:
    """The drain's findings now, merged with those of the previous step."""
    now, spare = looked.now, gate.spare
    seen = _service_findings(looked, state, {b.instance.id for b in looked.census.busy})
    # Within the grace, a new fleet's instances are still booting and registering: waiting then is normal.
    late = now - state["startedAt"] >= CAPACITY_GRACE_SECONDS
    if gate.waiting and spare is not None and late and not has_room(state["need"], spare):
        seen.append(_capacity_finding(state, spare))
    if spare is not None and "unjudged" in spare:
        seen.append(Observation(Cause.NOT_JUDGED, "placement", 0, reason.gate_not_judged(spare["unjudged"])))
    if spare is not None and spare.get("claimsUnread"):
        seen.append(Observation(Cause.NOT_JUDGED, "other rollovers", 0, reason.claims_unread()))
    if spare is not None and "scaling" in spare:
        seen.append(Observation(Cause.ROOM_FROM_SCALING, "placement", 0, spare["scaling"]))
    if standalone is not None and not gate.waiting:
        daemons = sum(1 for s in looked.services if s.daemon)
        draining_for = now - (gate.draining_since if gate.draining_since is not None else now)
        quiet = not standalone.progressed and draining_for >= REPLACEMENT_GRACE_SECONDS
        seen += _standalone_findings(looked, state["cluster"], daemons, quiet)
    return merge(state.get("diagnosis", []), seen, now)


def only_blocked_left(
    ecs: ECSClient,
    cluster: str,
    census: Census,
    findings: Iterable[Finding],
    services: Sequence[ServiceView],
    budget: CallBudget,
) -> bool:
    """Whether every task still on the targets belongs to a blocked service, or to a daemon (which stops after them):
    only then does answering early kill nothing that would have left by itself. A task still stopping (serving its
    last requests through the deregistration delay) or of any other service or no service means not yet.

    Lists the tasks of each busy instance, four reads each (tasks meant to run and tasks told to stop, described);
    with more than VERIFY_MAX_INSTANCES busy instances, or when the step's allowance does not afford it, the answer
    is "not yet" and the drain waits on (the safe side)."""
    if census.watched or len(census.busy) > VERIFY_MAX_INSTANCES:
        return False
    if not budget.affords(4 * len(census.busy)):
        return False
    stays = {f"service:{f['subject'].removeprefix('service ')}" for f in blocking(findings)}
    stays |= {f"service:{s.name}" for s in services if s.daemon}
    for busy in census.busy:
        if any(t.get("group") not in stays for t in calls.running_tasks(ecs, cluster, busy.instance.id)):
            return False
        stopping = calls.stopping_tasks(ecs, cluster, busy.instance.id)
        if any(t.get("lastStatus") != "STOPPED" for t in calls.describe_tasks(ecs, cluster, stopping)):
            return False
    return True


def _service_findings(looked: Looked, state: DrainState, targets: set[str]) -> list[Observation]:
    started = state.get("eventsSince", state["startedAt"])
    suspects = [(s, found) for s in looked.services if (found := suspicions(s, started))]
    observations: list[Observation] = []
    for service, found in suspects:
        if not looked.budget.affords(2 * max(1, math.ceil(service.desired / calls.DESCRIBE_LIMIT))):
            break  # the next check looks again
        homes = calls.service_task_homes(looked.ecs, state["cluster"], service.name)
        on_targets = sum(1 for home in homes.values() if home in targets)
        for obs in found:
            if not on_targets:
                continue  # nothing of it is on the targets: the drain neither waits for it nor takes it down
            if obs.cause == Cause.SERVICE_UNAVAILABLE and on_targets < len(homes):
                continue  # some of its tasks run elsewhere: it keeps serving
            detail = reason.on_targets(on_targets, obs.detail)
            observations.append(Observation(obs.cause, obs.subject, on_targets, detail, obs.since))
    return observations


def suspicions(service: ServiceView, events_since: float) -> list[Observation]:
    """What the service's own description says could hold a drain up, before counting its tasks on the targets."""
    if service.daemon or service.desired <= 0:
        return []
    found: list[Observation] = []
    subject = f"service {service.name}"
    ceiling = math.floor(service.desired * service.max_percent / 100)
    floor = math.ceil(service.desired * service.min_healthy_percent / 100)
    percents = (service.min_healthy_percent, service.max_percent, service.desired)
    if ceiling <= service.desired and floor >= service.desired:
        found.append(
            Observation(Cause.DEPLOYMENT_CONFIGURATION, subject, 0, reason.deployment_configuration(*percents))
        )
    events = [(at, m) for at, m in service.events if UNABLE_TO_PLACE in m and at >= events_since]
    if events:
        first, newest = events[-1][0], events[0][1]
        closest = _CLOSEST.search(newest)
        detail = reason.cannot_place(closest.group("why") if closest else None, service.placement_constraints)
        found.append(Observation(Cause.CANNOT_PLACE, subject, 0, detail, since=first))
    if floor == 0:
        found.append(Observation(Cause.SERVICE_UNAVAILABLE, subject, 0, reason.goes_to_zero(*percents)))
    return found


def _capacity_finding(state: DrainState, spare: Spare) -> Observation:
    detail = reason.not_enough_capacity(state["need"], spare)
    cluster = last_part(state["cluster"])
    return Observation(Cause.NOT_ENOUGH_CAPACITY, f"cluster {cluster}", 0, detail, since=state["startedAt"])


def _standalone_findings(looked: Looked, cluster: str, daemons: int, quiet: bool) -> list[Observation]:
    """Tasks of no service on the draining targets that still have tasks meant to run. While more than
    STANDALONE_LISTINGS are left, only those meant to run more than their daemons' tasks (a daemon task stays until
    the service tasks have stopped; service tasks leave once replaced), and only once the drain is `quiet` (no
    progress, DRAINING for longer than replacements take to start and pass their health check)."""
    busy = looked.census.busy
    holding = sorted(b.instance.id for b in busy if b.instance.status == "DRAINING" and b.active)
    if len(holding) > STANDALONE_LISTINGS:
        if not quiet:
            return []
        holding = sorted(b.instance.id for b in busy if b.instance.status == "DRAINING" and b.active > daemons)
    groups: Counter[str] = Counter()
    oldest: dict[str, float] = {}
    for instance_id in holding[:STANDALONE_LISTINGS]:
        if not looked.budget.affords(2):
            break
        for task in calls.running_tasks(looked.ecs, cluster, instance_id):
            group = task.get("group", "")
            if group.startswith("service:") or task.get("desiredStatus") == "STOPPED":
                continue
            by = f" (started by {task['startedBy']})" if task.get("startedBy") else ""
            name = f"task group {group or '?'}{by}"
            groups[name] += 1
            started = task.get("startedAt") or task.get("createdAt")
            if started is not None:
                oldest[name] = min(oldest.get(name, looked.now), started.timestamp())
    return [_standalone_finding(name, count, oldest.get(name), looked.now) for name, count in sorted(groups.items())]


def _standalone_finding(name: str, count: int, oldest: float | None, now: float) -> Observation:
    minutes = round((now - oldest) / 60) if oldest is not None else None
    return Observation(Cause.STANDALONE_TASKS, name, count, reason.standalone_tasks(count, minutes), since=oldest)
