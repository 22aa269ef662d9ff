"""The count: which target instances still run something, and which tasks on them are still stopping.

An instance is drained when ECS no longer knows it, or when it is DRAINING with no task meant to run and every task
told to stop on it, as listed once its running tasks were gone, is STOPPED. Those tasks are *watched* (kept as ids
in the state) until they are, and the instance is *listed*: no instance is listed twice.

The reads do not grow with the fleet (docs/how-it-works.md, "What a drain reads"): an instance is described while
tasks are meant to run on it and once more at its end, not while only its watched tasks are left. Instances whose
running tasks are gone are listed together once the emptying pauses (no instance emptied since the last check, or
none left to empty), by one sweep of the cluster's tasks told to stop where that costs less than a ListTasks per
instance. Watched tasks that ECS events reported STOPPED (see watch.py) are not read again; the others are read
at every check, or, while events come, at the reconcile cadence the rule sets.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..aws import ecs_calls as calls
from ..aws.sweeps import SHARED_SWEEP_SECONDS, Claimed, Later, SharedSweeps, Sweep
from ..model.arns import last_part
from ..model.container_instance import InstanceFacts
from ..model.state import (
    CountMemory,
    RemainingInstance,
    pack_homes,
    pack_ids,
    pack_subset,
    unpack_homes,
    unpack_ids,
    unpack_subset,
)
from ..runtime import clock

if TYPE_CHECKING:
    from mypy_boto3_ecs import ECSClient

    from ..aws.budget import CallBudget

# Tasks watched at once (16 bytes each in the state): every stopping task of an instance whose running tasks are
# gone, so its last one stopping is seen without listing it again. 5,000 keep the state under ~110 KB of 256 KB.
WATCH_MAX = 5000
# A watched task found STOPPED by a read more than this long after it stopped, with no event reporting it: the
# events are not coming (a rule switched off, a target failing), so every check reads again.
EVENT_GRACE_SECONDS = 30.0
# A sweep reads its pages and then describes what they list (100 a call each): about two reads a page. It is
# tried where that is cheaper than a ListTasks per instance, and given up past the per-instance cost.
SWEEP_READS_PER_PAGE = 2


Homes = dict[str, tuple[str, str]]  # task id -> (its container instance id, its lastStatus)


@dataclass
class Busy:
    """An instance that still runs something: tasks meant to run, and watched tasks stopping but not STOPPED yet."""

    instance: InstanceFacts
    active: int
    watched: list[str] = field(default_factory=list)  # ids of its watched tasks not STOPPED yet
    unlisted: bool = False  # nothing runs, but its stopping tasks are still to be listed (carried over)
    listed: bool = False  # its stopping tasks were listed once its running tasks were gone

    @property
    def tasks(self) -> int:
        return self.active + len(self.watched)

    def report(self) -> RemainingInstance:
        return {
            "ec2InstanceId": self.instance.ec2_instance_id or "?",
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
    views: dict[str, InstanceFacts] = field(default_factory=dict)  # the instances described in this count
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

    sweep_pages: int = 0  # the pages the cluster's tasks told to stop took at the last sweep (0: not swept)
    counted_at: float | None = None  # when the instances were described
    reconciled: bool = False  # the watched tasks no event reported were read
    missed: int = 0  # of those, found STOPPED for longer than EVENT_GRACE_SECONDS: their events did not come

    @property
    def unlisted_ids(self) -> list[str]:
        return [b.instance.id for b in self.busy if b.unlisted]

    @property
    def listed(self) -> list[str]:
        return [b.instance.id for b in self.busy if b.listed]

    @property
    def emptying(self) -> int:
        """Instances with tasks meant to run: their emptying is not over."""
        return sum(1 for b in self.busy if b.active)

    @property
    def only_watched_left(self) -> bool:
        """Every busy instance listed, so only its watched tasks are left to stop."""
        return bool(self.watched) and len(self.listed) == len(self.busy)

    def memory(self) -> CountMemory:
        """What the next check's count takes up (Pending.remembered reads it back)."""
        busy = [b.instance.id for b in self.busy]
        homes = {task: b.instance.id for b in self.busy for task in b.watched}
        memory: CountMemory = {
            "pending": pack_ids(busy),
            "pendingCount": len(busy),
            "watched": pack_ids(self.watched),
            "listed": pack_subset(busy, self.listed),
            "watchedOn": pack_homes(busy, homes),
            "emptying": self.emptying,
            "sweepPages": self.sweep_pages,
            "unlisted": pack_subset(busy, self.unlisted_ids),
        }
        if self.counted_at is not None:
            memory["countedAt"] = self.counted_at
        return memory


@dataclass(frozen=True)
class Pending:
    """What earlier checks left to count: the instances not drained, which of them were listed, the watched
    tasks, the EC2 ids the last Reason named (an instance not described this check keeps its name), and what the
    last check saw of the emptying (None: nothing yet) and of the sweep."""

    ids: Sequence[str]
    watched: Sequence[str] = ()
    listed: Iterable[str] = ()
    names: Mapping[str, str] = field(default_factory=dict)
    emptying: int | None = None
    sweep_pages: int = 0
    reported: frozenset[str] = frozenset()  # watched tasks ECS events reported STOPPED
    homes: Mapping[str, str] = field(default_factory=dict)  # watched task -> its instance
    reconcile: bool = True  # read the watched tasks no event reported (else they are still stopping)
    unlisted: Iterable[str] = ()  # instances DRAINING with nothing meant to run, not listed yet, as of `counted_at`
    counted_at: float | None = None  # when the last check described them

    @classmethod
    def remembered(
        cls, memory: CountMemory, names: Mapping[str, str], unreported: frozenset[str] | None, reconcile: bool
    ) -> Pending:
        """What the last check's count left (Census.memory), with the EC2 ids the Reason named, the watched tasks
        no ECS event reported STOPPED (None: no events report to this drain), and whether to read those."""
        ids, watched = unpack_ids(memory["pending"]), unpack_ids(memory["watched"])
        return cls(
            ids,
            watched,
            unpack_subset(ids, memory["listed"]),
            names,
            memory.get("emptying"),
            memory.get("sweepPages", 0),
            frozenset(watched) - unreported if unreported is not None else frozenset(),
            unpack_homes(ids, watched, memory.get("watchedOn", "")),
            reconcile,
            unpack_subset(ids, memory.get("unlisted", "")),
            memory.get("countedAt"),
        )


def at_start(instances: Sequence[InstanceFacts]) -> Census:
    """The plan's view: every target ECS still knows, with the tasks meant to run on it."""
    return Census(busy=[Busy(i, i.active_tasks) for i in instances if i.status not in calls.GONE_STATUSES])


def count(
    ecs: ECSClient,
    cluster: str,
    pending: Pending,
    budget: CallBudget,
    now: float,
    sweeps: SharedSweeps | None = None,
) -> Census:
    """One pass over the instances not drained yet.

    Calls: DescribeTasks for the watched tasks no event reported STOPPED (100 a call; between reconciles, none);
    DescribeContainerInstances (100 a call) for the instances not listed yet and for the listed ones whose watched
    tasks are all STOPPED; and, for the instances whose running tasks just went, once the emptying pauses, a sweep
    (shared with the other drains of the cluster, see sweeps.py) or one ListTasks each, as far as the step's
    allowance affords (the rest wait for the next check).
    """
    census = Census()
    listed = set(pending.listed) & set(pending.ids)
    stopping = _unreported(ecs, cluster, pending, census, now)
    on: dict[str, list[str]] = {}  # instance -> its watched tasks not STOPPED
    for task_id, (instance_id, _) in stopping.items():
        on.setdefault(instance_id, []).append(task_id)
    waiting = {i: on[i] for i in sorted(listed) if on.get(i)}
    found, missing = calls.describe_instances(ecs, cluster, [i for i in pending.ids if i not in waiting])
    # A shared sweep lists an instance only if it began after the instance was seen DRAINING with nothing to run.
    seen = Seen(cluster, clock.now(), sweeps, frozenset(pending.unlisted), pending.counted_at)
    census.views, census.counted_at = found, seen.at
    census.drained.extend(sorted(missing))  # deregistered or terminated: nothing runs there any more
    to_list = _sort_described(found, listed, on, census)
    for instance_id, tasks in waiting.items():
        census.busy.append(Busy(_draining(instance_id, pending.names), 0, tasks, listed=True))
    census.sweep_pages = pending.sweep_pages
    if _emptying_goes_on(census.emptying, pending.emptying):
        census.busy.extend(Busy(i, 0, unlisted=True) for i in to_list)  # listed together once it pauses
    else:
        _list_stopping(Listing(ecs, seen, budget, stopping, census), to_list)
    return census


def _sort_described(
    found: Mapping[str, InstanceFacts], listed: set[str], on: Mapping[str, list[str]], census: Census
) -> list[InstanceFacts]:
    """Each described instance drained or busy (with its watched tasks `on` it), or, DRAINING with nothing meant to
    run and not listed yet, returned: its stopping tasks are to be listed."""
    to_list: list[InstanceFacts] = []
    for instance_id in sorted(found):
        instance = found[instance_id]
        if instance.status in calls.GONE_STATUSES:
            census.drained.append(instance_id)
        elif instance.active_tasks or instance.status == "ACTIVE":
            # Still ACTIVE, ECS may place tasks on it: drained only once it is DRAINING and empty. Listed before
            # and busy again (set ACTIVE by someone), it is listed again once empty.
            census.busy.append(Busy(instance, instance.active_tasks, list(on.get(instance_id, []))))
        elif instance_id in listed:
            census.drained.append(instance_id)  # every task it was stopping is STOPPED, and nothing came since
        else:
            to_list.append(instance)
    return to_list


def _emptying_goes_on(now: int, before: int | None) -> bool:
    """Whether instances are still emptying as the last check saw them: some have tasks meant to run, and fewer
    than at the last check. Listing waits for it to pause, so that one listing serves them all."""
    return before is not None and 0 < now < before


def _unreported(ecs: ECSClient, cluster: str, pending: Pending, census: Census, now: float) -> Homes:
    """The watched tasks not STOPPED, as far as this check knows: id -> (instance id, lastStatus). Those events
    reported STOPPED are left out; the others are read (a task ECS no longer returns is left out), or, between
    reconciles, taken to be stopping still (where their instance is known)."""
    unreported = [t for t in pending.watched if t not in pending.reported]
    if not pending.reconcile and all(t in pending.homes for t in unreported):
        return {t: (pending.homes[t], "STOPPING") for t in unreported}
    census.reconciled = True
    stopping: Homes = {}
    for task in calls.describe_tasks(ecs, cluster, unreported):
        task_id, status = last_part(task["taskArn"]), task.get("lastStatus", "UNKNOWN")
        if status != "STOPPED":
            stopping[task_id] = (last_part(task.get("containerInstanceArn", "")), status)
        elif "stoppedAt" in task and now - task["stoppedAt"].timestamp() > EVENT_GRACE_SECONDS:
            census.missed += 1
    return stopping


def _draining(instance_id: str, names: Mapping[str, str]) -> InstanceFacts:
    """A listed instance not described this check: DRAINING with nothing meant to run when last described (its
    end is described before it counts as drained)."""
    return InstanceFacts(instance_id, names.get(instance_id, "?"), "DRAINING", agent_connected=True)


@dataclass(frozen=True)
class Seen:
    """When this count saw its instances (after their description), and the sweeps shared with other drains."""

    cluster: str
    at: float
    sweeps: SharedSweeps | None = None
    earlier: frozenset[str] = frozenset()  # instances already DRAINING with nothing to run at the last check
    earlier_at: float | None = None  # when the last check described them


@dataclass(frozen=True)
class Listing:
    """One count's listing of the tasks told to stop: where it reads (`ecs`, within `budget`), when it saw the
    instances (`seen`), the tasks whose instance and status it knows already, and the count it adds to."""

    ecs: ECSClient
    seen: Seen
    budget: CallBudget
    known: Homes
    census: Census


def _list_stopping(listing: Listing, instances: list[InstanceFacts]) -> None:
    """List the tasks told to stop on instances whose running tasks are gone: by one sweep of the cluster where
    that is cheaper, else one ListTasks each while the allowance lasts."""
    census = listing.census
    room = WATCH_MAX - len(census.watched)
    if not instances or room <= 0:
        census.busy.extend(Busy(i, 0, unlisted=True) for i in instances)
        return
    swept = _sweep(listing, instances)
    listed, homes = _list_each(listing, instances, room) if swept is None else swept
    _record_listing(listed, homes, census, room)


def _list_each(listing: Listing, instances: list[InstanceFacts], room: int) -> tuple[list[InstanceFacts], Homes]:
    """One ListTasks per instance, then DescribeTasks for the tasks not known: the instances listed, and where
    each task is and how far it has come."""
    ecs, cluster, census = listing.ecs, listing.seen.cluster, listing.census
    listed: list[InstanceFacts] = []
    arns: list[str] = []
    for instance in instances:
        if room <= 0 or not listing.budget.affords(2):  # its ListTasks, and a share of the DescribeTasks after
            census.busy.append(Busy(instance, 0, unlisted=True))
            census.out_of_time |= room > 0
            continue
        found = calls.stopping_tasks(ecs, cluster, instance.id)
        room -= len(found)
        arns.extend(found)
        listed.append(instance)
    return listed, _described(ecs, cluster, arns, listing.known)


def _described(ecs: ECSClient, cluster: str, arns: list[str], known: Homes) -> Homes:
    """Where each listed task is and how far it has come: the known ones as known, the others read."""
    unknown = sorted({last_part(a) for a in arns} - set(known))
    return {**known, **calls.task_states(ecs, cluster, unknown)}


def _record_listing(listed: list[InstanceFacts], homes: Homes, census: Census, room: int) -> None:
    """Each listed instance is drained when none of its stopping tasks is left, or busy with them watched (as
    many as the watch has room for: the others wait to be listed again)."""
    stopping: dict[str, list[str]] = {i.id: [] for i in listed}
    for task_id, (instance_id, status) in homes.items():
        if instance_id in stopping and status != "STOPPED":
            stopping[instance_id].append(task_id)
    for instance in listed:
        tasks = sorted(stopping[instance.id])
        if not tasks:
            census.drained.append(instance.id)
        elif len(tasks) <= room:
            census.busy.append(Busy(instance, 0, tasks, listed=True))
            room -= len(tasks)
        else:
            census.busy.append(Busy(instance, 0, unlisted=True))


def _sweep(listing: Listing, instances: list[InstanceFacts]) -> tuple[list[InstanceFacts], Homes] | None:
    """Every task told to stop in the cluster, described where not known: the instances it lists, and where each
    task is; None where that costs more than a ListTasks for each of the `instances`, as the last sweep's pages say
    (or once that many pages are read).

    It follows the census that saw these instances DRAINING with nothing meant to run, so every task on them is
    among the cluster's tasks told to stop (ECS places nothing new on a DRAINING instance). Another drain's sweep
    serves as well where it began after that: this drain then reads it, or waits for it, rather than reading the
    same pages. It may serve only the instances seen so at the last check: the others wait for the next one."""
    seen, census, known = listing.seen, listing.census, listing.known
    most_pages = len(instances) // SWEEP_READS_PER_PAGE  # where it stops paying
    if most_pages < 1 or census.sweep_pages > most_pages:
        return None
    claim = _claim(seen, instances, census.sweep_pages, listing.budget)
    if isinstance(claim, Later):  # another drain's sweep is under way: a later check reads it or makes the next
        census.busy.extend(Busy(i, 0, unlisted=True) for i in instances)
        return [], known
    if isinstance(claim, Sweep):  # another drain's, free to read
        census.sweep_pages = max(census.sweep_pages, claim.pages)
        served = [i for i in instances if claim.started_at >= seen.at or i.id in seen.earlier]
        census.busy.extend(Busy(i, 0, unlisted=True) for i in instances if i not in served)
        return served, {**known, **claim.stopping}
    if claim is not None:
        census.sweep_pages = max(census.sweep_pages, claim.pages_at_least)
    return _sweep_here(listing, claim, most_pages, instances)


def _sweep_here(
    listing: Listing, claim: Claimed | None, most_pages: int, instances: list[InstanceFacts]
) -> tuple[list[InstanceFacts], Homes] | None:
    """This drain's sweep, published where it claimed it; None where it is given up (past `most_pages`, or past
    what it may spend: its step's allowance, or SHARED_SWEEP_SECONDS for a shared one; the next check knows its
    length)."""
    ecs, seen, census = listing.ecs, listing.seen, listing.census
    shared = SHARED_SWEEP_SECONDS if claim is not None else 0.0
    pages = min(most_pages, listing.budget.affordable_reads(shared) // SWEEP_READS_PER_PAGE)
    if census.sweep_pages > pages:  # known not to fit: left to a drain with more time, listed one by one here
        _publish(seen, claim, census.sweep_pages - 1, None)
        return None
    arns = calls.cluster_stopping_tasks(ecs, seen.cluster, pages) if pages else None
    if arns is None:
        census.sweep_pages = max(census.sweep_pages, pages + 1)  # at least
        census.out_of_time |= pages < most_pages
        _publish(seen, claim, pages, None)
        return None
    census.sweep_pages = max(1, -(-len(arns) // calls.LIST_TASKS_PAGE))
    homes = _described(ecs, seen.cluster, arns, listing.known)
    _publish(seen, claim, census.sweep_pages, {t: home for t, home in homes.items() if home[1] != "STOPPED"})
    return instances, homes


def _claim(
    seen: Seen, instances: list[InstanceFacts], pages: int, budget: CallBudget
) -> Sweep | Claimed | Later | None:
    """Another drain's sweep for (some of) these instances, or this drain's claim of the next one: begun after the
    last check where it saw some of them already, else after this check. It waits for a sweep under way only as
    long as leaves time to sweep after it (`pages` long, where known; else half the step's allowance)."""
    if seen.sweeps is None:
        return None
    seen_before = any(i.id in seen.earlier for i in instances)
    since = seen.earlier_at if seen_before and seen.earlier_at is not None else seen.at
    left = budget.seconds_left()
    wait = left - budget.seconds_for(pages * SWEEP_READS_PER_PAGE) if pages else left / 2
    return seen.sweeps.claim(seen.cluster, since, wait)


def _publish(seen: Seen, claim: Claimed | None, pages: int, stopping: Homes | None) -> None:
    """Share this drain's sweep where it claimed it: the tasks still stopping, or None where it gave up."""
    if seen.sweeps is not None and claim is not None:
        seen.sweeps.publish(seen.cluster, claim.at, pages, stopping)
