"""Why a drain cannot finish: findings named by service or task group, with how many tasks and since when.

Read from what ECS reports, within the drain's call budget: DescribeServices (deployment configuration, placement
constraints, counts and the service's own events), the service's tasks (ListTasks by service, DescribeTasks) for
the few services a finding is about, and the running tasks of instances that still hold some (ListTasks,
DescribeTasks). No finding is guessed from names.

Two causes are ones ECS cannot resolve by itself (BLOCKING_CAUSES): a deployment configuration that lets ECS neither
start a replacement nor stop a task, and replacements no instance can take. BlockedTimeoutSeconds answers early on
those, once one has held that many seconds with no task of it moving.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from . import ecs_calls as calls
from . import reason
from .arns import last_part
from .capacity import has_room
from .ecs_calls import ServiceView
from .state import (
    CANNOT_PLACE,
    DEPLOYMENT_CONFIGURATION,
    NOT_ENOUGH_CAPACITY,
    NOT_JUDGED,
    NOT_READY,
    ROOM_FROM_SCALING,
    SEPARATE_SCHEDULES,
    SERVICE_UNAVAILABLE,
    STANDALONE_TASKS,
    WAITING_FOR_CAPACITY,
    WARNING_CAUSES,
    Cause,
    DrainState,
    Finding,
)

if TYPE_CHECKING:
    from mypy_boto3_ecs import ECSClient

    from .budget import CallBudget
    from .census import Census

BLOCKING_CAUSES: Final[tuple[Cause, ...]] = (DEPLOYMENT_CONFIGURATION, CANNOT_PLACE)
# Most important first: what ECS cannot resolve, then what the drain waits for, then warnings.
_ORDER: Final[tuple[Cause, ...]] = (
    NOT_READY,
    DEPLOYMENT_CONFIGURATION,
    CANNOT_PLACE,
    NOT_ENOUGH_CAPACITY,
    STANDALONE_TASKS,
    SERVICE_UNAVAILABLE,
    ROOM_FROM_SCALING,
    NOT_JUDGED,
    SEPARATE_SCHEDULES,
)
MAX_FINDINGS = 10  # kept in the state and the Reason
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
class Observation:
    """One finding as this step saw it; merged with the previous step's to carry `since` over."""

    cause: Cause
    subject: str
    tasks: int
    detail: str
    since: float | None = None  # when ECS says it began (an event's time), if it says


def diagnose(
    state: DrainState,
    ecs: ECSClient,
    services: Sequence[ServiceView],
    census: Census,
    budget: CallBudget,
    now: float,
    standalone_wait: bool,
    progressed: bool = True,
) -> list[Finding]:
    """The drain's findings now, merged with those of the previous step."""
    targets = {b.instance.id for b in census.busy}
    seen: list[Observation] = []
    seen += _service_findings(ecs, state, services, targets, budget)
    waiting = state["phase"] == WAITING_FOR_CAPACITY and "spare" in state
    # Within the grace, a new fleet's instances are still booting and registering: waiting then is normal.
    if waiting and now - state["startedAt"] >= CAPACITY_GRACE_SECONDS and not has_room(state["need"], state["spare"]):
        seen.append(_capacity_finding(state))
    spare = state.get("spare")  # the gate's last verdict, also once it opened
    if spare is not None and "unjudged" in spare:
        seen.append(Observation(NOT_JUDGED, "placement", 0, reason.gate_not_judged(spare["unjudged"])))
    if spare is not None and "scaling" in spare:
        seen.append(Observation(ROOM_FROM_SCALING, "placement", 0, spare["scaling"]))
    if standalone_wait and state["phase"] != WAITING_FOR_CAPACITY:
        daemons = sum(1 for s in services if s.daemon)
        draining_for = now - state["timeline"].get("drainingSetAt", now)
        quiet = not progressed and draining_for >= REPLACEMENT_GRACE_SECONDS
        seen += _standalone_findings(ecs, state["cluster"], census, budget, now, daemons, quiet)
    return merge(state.get("diagnosis", []), seen, now)


def merge(previous: Iterable[Finding], seen: Iterable[Observation], now: float) -> list[Finding]:
    """Keep when each finding was first seen, and since when its tasks have not dropped; warnings stay once seen
    (a service that went to zero healthy tasks did, even after it recovers)."""
    before = {(f["cause"], f["subject"]): f for f in previous}
    found: dict[tuple[str, str], Finding] = {}
    for obs in seen:
        old = before.get((obs.cause, obs.subject))
        since = old["since"] if old else (obs.since if obs.since is not None else now)
        stuck = old["stuckSince"] if old and obs.tasks >= old["tasks"] else (since if old is None else now)
        found[(obs.cause, obs.subject)] = {
            "cause": obs.cause,
            "subject": obs.subject,
            "tasks": obs.tasks,
            "since": since,
            "stuckSince": stuck,
            "detail": obs.detail,
        }
    for key, old in before.items():
        if key not in found and old["cause"] in WARNING_CAUSES:
            found[key] = old
    ordered = sorted(found.values(), key=lambda f: (_ORDER.index(f["cause"]), f["since"], f["subject"]))
    return ordered[:MAX_FINDINGS]


def blocked(findings: Iterable[Finding], now: float, after_seconds: int) -> Finding | None:
    """The first finding ECS cannot resolve whose tasks have not moved for `after_seconds`."""
    for finding in findings:
        if finding["cause"] in BLOCKING_CAUSES and finding["tasks"] and now - finding["stuckSince"] >= after_seconds:
            return finding
    return None


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


def blocking(findings: Iterable[Finding]) -> list[Finding]:
    return [f for f in findings if f["cause"] in BLOCKING_CAUSES and f["tasks"]]


def unchanged(previous: Iterable[Finding], findings: Iterable[Finding]) -> bool:
    """True when every blocking finding of a previous attempt holds now with no fewer tasks."""
    earlier = blocking(previous)
    now = {(f["cause"], f["subject"]): f["tasks"] for f in blocking(findings)}
    return bool(earlier) and all(now.get((f["cause"], f["subject"]), 0) >= f["tasks"] for f in earlier)


def _service_findings(
    ecs: ECSClient, state: DrainState, services: Sequence[ServiceView], targets: set[str], budget: CallBudget
) -> list[Observation]:
    started = state.get("eventsSince", state["startedAt"])
    suspects = [(s, found) for s in services if (found := suspicions(s, started))]
    observations: list[Observation] = []
    for service, found in suspects:
        if not budget.affords(2 * max(1, math.ceil(service.desired / calls.DESCRIBE_LIMIT))):
            break  # the next check looks again
        homes = calls.service_task_homes(ecs, state["cluster"], service.name)
        on_targets = sum(1 for home in homes.values() if home in targets)
        for obs in found:
            if not on_targets:
                continue  # nothing of it is on the targets: the drain neither waits for it nor takes it down
            if obs.cause == SERVICE_UNAVAILABLE and on_targets < len(homes):
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
        found.append(Observation(DEPLOYMENT_CONFIGURATION, subject, 0, reason.deployment_configuration(*percents)))
    events = [(at, m) for at, m in service.events if UNABLE_TO_PLACE in m and at >= events_since]
    if events:
        first, newest = events[-1][0], events[0][1]
        closest = _CLOSEST.search(newest)
        detail = reason.cannot_place(closest.group("why") if closest else None, service.placement_constraints)
        found.append(Observation(CANNOT_PLACE, subject, 0, detail, since=first))
    if floor == 0:
        found.append(Observation(SERVICE_UNAVAILABLE, subject, 0, reason.goes_to_zero(*percents)))
    return found


def _capacity_finding(state: DrainState) -> Observation:
    detail = reason.not_enough_capacity(state["need"], state["spare"])
    cluster = last_part(state["cluster"])
    return Observation(NOT_ENOUGH_CAPACITY, f"cluster {cluster}", 0, detail, since=state["startedAt"])


def _standalone_findings(
    ecs: ECSClient, cluster: str, census: Census, budget: CallBudget, now: float, daemons: int, quiet: bool
) -> list[Observation]:
    """Tasks of no service on the draining targets that still have tasks meant to run. While more than
    STANDALONE_LISTINGS are left, only those meant to run more than their daemons' tasks (a daemon task stays until
    the service tasks have stopped; service tasks leave once replaced), and only once the drain is `quiet` (no
    progress, DRAINING for longer than replacements take to start and pass their health check)."""
    holding = sorted(b.instance.id for b in census.busy if b.instance.status == "DRAINING" and b.active)
    if len(holding) > STANDALONE_LISTINGS:
        if not quiet:
            return []
        holding = sorted(b.instance.id for b in census.busy if b.instance.status == "DRAINING" and b.active > daemons)
    groups: Counter[str] = Counter()
    oldest: dict[str, float] = {}
    for instance_id in holding[:STANDALONE_LISTINGS]:
        if not budget.affords(2):
            break
        for task in calls.running_tasks(ecs, cluster, instance_id):
            group = task.get("group", "")
            if group.startswith("service:") or task.get("desiredStatus") == "STOPPED":
                continue
            by = f" (started by {task['startedBy']})" if task.get("startedBy") else ""
            name = f"task group {group or '?'}{by}"
            groups[name] += 1
            started = task.get("startedAt") or task.get("createdAt")
            if started is not None:
                oldest[name] = min(oldest.get(name, now), started.timestamp())
    findings = []
    for name, count in sorted(groups.items()):
        minutes = round((now - oldest[name]) / 60) if name in oldest else None
        detail = reason.standalone_tasks(count, minutes)
        findings.append(Observation(STANDALONE_TASKS, name, count, detail, since=oldest.get(name)))
    return findings
