"""What users see during a rollover under each strategy: the same world, the same traffic, one row each.

- `ecs-drain`: the real engine (the template's functions and state machine), with its defaults: the preflight checks
  the new fleet on the Update and fails it (CloudFormation rolls back) when the drain could not finish.
- `ecs-drain-no-preflight`: the same with `Preflight: OFF`, as ecs-drain was before the preflight: every check
  happens in the cleanup, where CloudFormation can no longer roll back.
- `seed`: the rule of the blog post this project grew from. On Delete, one Lambda inside the custom resource sets
  every target DRAINING at once (no capacity check), then every 10 s sums the targets' runningTasksCount and
  answers SUCCESS when the sum is 0; at its 900 s Lambda timeout it dies without answering (its `finally` never
  runs), and CloudFormation waits out its own timeout.
- `none`: no drain: CloudFormation deletes the old fleet as soon as the new one exists.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import boto3

from ecs_drain.aws import cfn_answer, ecs_calls
from ecs_drain.aws.clients import Clients
from ecs_drain.aws.targets import ec2_instance_ids
from ecs_drain.decisions.properties import parse
from ecs_drain.runtime import clock

from .catalog import SCENARIOS, world_options
from .scenarios import World, rollover_world
from .traffic import CAUSES, Traffic

STRATEGIES = ("ecs-drain", "ecs-drain-no-preflight", "seed", "none")
POLICY = {"ecs-drain-no-preflight": {"Preflight": "OFF"}}  # what a strategy adds to the scenario's properties
SEED_POLL_SECONDS = 10
SEED_LAMBDA_TIMEOUT_SECONDS = 900
RECOVERY_SECONDS = 300  # a window ends at least this long after the old fleet is gone (or the rollback ended)


@dataclass
class Run:
    """One strategy's rollover, as users and CloudFormation saw it."""

    scenario: str
    strategy: str
    requests: int
    failed: int
    causes: dict[str, int]
    cleanup_seconds: float  # from the Delete to the old fleet gone
    old_capacity_seconds: float  # instance-seconds of old capacity kept from the Delete until it was gone
    answer: str  # the last answer CloudFormation got for the Delete ("-" when there is none)
    tasks_killed: int  # on any instance: the old fleet's, or the new one's when a rollback deleted it
    old_tasks_killed: int  # on the old fleet's instances
    old_set_draining: int  # old instances ever set DRAINING (by the strategy; a rollback or a removal should set none)
    stack_status: str  # the stack's status at the end
    traffic: Traffic  # the requests themselves, per second (for pictures)
    window_seconds: float  # requests counted from COUNTING_LEAD_SECONDS before the update, for this long after it
    failing_at_end: int  # requests failed in the window's last minute: an outage still going on when it ends
    down_at_end: list[str]  # services (not daemons) that run no task when the window ends: an outage of their own
    short_at_end: int  # tasks the services (not daemons) run fewer than they want when the window ends: lost room
    ended_in_window: bool  # the strategy ended (and RECOVERY_SECONDS passed) within the window
    old_fleet: str  # "deleted" or "kept" (a rollback, or a removal that keeps the fleet)

    def row(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "strategy": self.strategy,
            "requests": self.requests,
            "failed": self.failed,
            **{cause: self.causes.get(cause, 0) for cause in CAUSES},
            "cleanup_seconds": round(self.cleanup_seconds, 1),
            "old_capacity_seconds": round(self.old_capacity_seconds, 1),
            "answer": self.answer,
            "tasks_killed": self.tasks_killed,
            "old_tasks_killed": self.old_tasks_killed,
            "old_set_draining": self.old_set_draining,
            "stack_status": self.stack_status,
            "window_seconds": round(self.window_seconds),
            "failing_at_end": self.failing_at_end,
            "down_at_end": self.down_at_end,
            "short_at_end": self.short_at_end,
            "ended_in_window": self.ended_in_window,
            "old_fleet": self.old_fleet,
        }


def run(world: World, scenario: str, strategy: str, policy: dict[str, str]) -> Run:
    """Roll the world over with `strategy`, counting requests over the scenario's window: the same for every
    strategy, from the update (and the requests in flight then) to `window_minutes` after it."""
    traffic = world.sim.traffic
    assert traffic is not None, "a world with traffic"
    begun = world.aws.clock.now()
    window_end = begun + SCENARIOS[scenario].window_minutes * 60
    traffic.count_until(window_end)
    answer = _roll_over(world, scenario, strategy, policy)
    cleanup = [t for t, status in world.cfn.statuses if status == "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"]
    started = cleanup[0] if cleanup else world.aws.clock.now()  # from the Delete (a rollback has none)
    gone = world.old_fleet_gone_at
    world.aws.clock.pace = 0  # what follows is only counted: nobody needs to watch it
    settled = gone if gone is not None else world.aws.clock.now()
    world.aws.clock.sleep(max(0.0, window_end - world.aws.clock.now()))
    ended = gone if gone is not None else started
    killed = world.sim.record.killed
    old_ids = set(world.old.container_ids).union(*(f.container_ids for f in world.others))
    return Run(
        scenario=scenario,
        strategy=strategy,
        requests=traffic.requests,
        failed=traffic.total_failed,
        causes=dict(traffic.failed),
        cleanup_seconds=ended - started,
        old_capacity_seconds=len(world.old.container_ids) * (ended - started),
        answer=answer,
        tasks_killed=len(killed),
        old_tasks_killed=sum(1 for arn in killed if world.sim.tasks[arn].instance_id in old_ids),
        old_set_draining=len(set(world.sim.record.draining_set_at) & old_ids),
        stack_status=world.cfn.status,
        traffic=traffic,
        window_seconds=window_end - begun,
        failing_at_end=traffic.failing_at(window_end),
        down_at_end=sorted(
            spec.name
            for spec in world.sim.services.values()
            if not spec.daemon
            and spec.desired
            and not any(t.last == "RUNNING" for t in world.sim.service_tasks(spec.name))
        ),
        short_at_end=sum(
            max(0, spec.desired - sum(1 for t in world.sim.service_tasks(spec.name) if t.last == "RUNNING"))
            for spec in world.sim.services.values()
            if not spec.daemon
        ),
        ended_in_window=settled + RECOVERY_SECONDS <= window_end,
        old_fleet="deleted" if gone is not None else "kept",
    )


def _roll_over(world: World, scenario: str, strategy: str, policy: dict[str, str]) -> str:
    """The stack update under `strategy`; the last answer CloudFormation got for the Delete ("-": none)."""
    answer, removing = "-", SCENARIOS[scenario].operation == "remove"
    second = SCENARIOS[scenario].second
    if SCENARIOS[scenario].operation == "shared" and second is not None:
        return _roll_both(world, strategy, {**policy, **POLICY.get(strategy, {})}, second)
    if strategy == "seed":
        world.aws.functions["CustomResourceFunction"].handler = f"{__name__}.seed_handler"
    if strategy == "none":  # no drain: the old fleet goes at once (and a removed resource changes nothing)
        if not removing:
            world.delete_fleet(world.old)
        world.cfn.set_status("UPDATE_COMPLETE")
    elif removing:
        last = world.remove(**{**policy, **POLICY.get(strategy, {})})
        answer = last.body["Status"] if last is not None else "-"
    else:
        _update, last = world.rollover(**{**policy, **POLICY.get(strategy, {})})
        answer = last.body["Status"] if last is not None else "-"
    return answer


def _roll_both(world: World, strategy: str, policy: dict[str, str], second: tuple[int, tuple[int, int]]) -> str:
    """Both stacks of a shared cluster replace their fleets at once; the last answers to their Deletes, A's then B's
    ("-": none, as after a rollback)."""
    other = world.second_stack(*second)  # created under ecs-drain, as the world's own stack was
    if strategy == "seed":
        world.aws.functions["CustomResourceFunction"].handler = f"{__name__}.seed_handler"
    if strategy == "none":
        world.delete_fleet(world.old)
        world.delete_fleet(other.old)
        world.cfn.set_status("UPDATE_COMPLETE")
        return "-, -"
    results = world.roll_at_once([world.consumer(), other], **policy)
    return ", ".join(last.body["Status"] if last is not None else "-" for _update, last in results)


def measure(name: str, strategy: str) -> Run:
    """One strategy's rollover of a scenario from the catalog, unwatched."""
    scenario = SCENARIOS[name]
    with rollover_world(log_level="ERROR", **world_options(scenario)) as world:
        world.faults.ecs_throttle_share = scenario.throttle_share
        return run(world, name, strategy, scenario.policy)


def measure_all(name: str, strategies: Sequence[str]) -> dict[str, Run]:
    return {strategy: measure(name, strategy) for strategy in strategies}


class Comparison:
    """Other strategies' runs of a scenario, measured beside what this process does meanwhile (the demo's live run,
    which mostly waits on its pace): in a child process forked while this one has no thread and no world yet, so it
    starts at once with everything imported. The same runs, the same figures (the emulation is deterministic). Where
    a fork is not safe (other threads running: a test runner's) or not known to be, they are measured here and now,
    before any other world exists (one offline AWS at a time per process)."""

    def __init__(self, name: str, strategies: Sequence[str]) -> None:
        self._child: Any = None
        self._results: Connection | None = None
        self._measured: dict[str, Run] | None = None
        if not strategies or not _single_threaded() or "fork" not in multiprocessing.get_all_start_methods():
            self._measured = measure_all(name, strategies)
            return
        context = multiprocessing.get_context("fork")
        self._results, sending = context.Pipe(duplex=False)
        self._child = context.Process(target=_measure_into, args=(sending, name, tuple(strategies)), daemon=True)
        self._child.start()
        sending.close()

    def runs(self) -> dict[str, Run]:
        if self._measured is not None:
            return self._measured
        assert self._results is not None
        try:
            self._measured = self._results.recv()
        except EOFError as error:
            ended = f"exit status {self._child.exitcode}"
            raise RuntimeError(f"the comparison's process ended without its runs ({ended})") from error
        finally:
            self._results.close()
            self._child.join()
        return self._measured


def _single_threaded() -> bool:
    """Whether this process runs one thread, as the OS counts them (a test runner's own threads included)."""
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:
        return False


def _measure_into(results: Connection, name: str, strategies: Sequence[str]) -> None:
    results.send(measure_all(name, strategies))
    results.close()


def seed_handler(event: dict[str, Any], _context: Any) -> None:
    """The seed rule as a custom resource Lambda (its answer is the same bounded https PUT as ecs-drain's)."""
    props = parse(event.get("ResourceProperties"))
    if event["RequestType"] in ("Create", "Update"):
        _answer(event, "SUCCESS", "", f"seed:{props.target_kind}:{props.target[0]}")
        return
    started = clock.now()
    ecs, ec2 = boto3.client("ecs"), boto3.client("ec2")
    clients = Clients(ecs=ecs, ec2=ec2, autoscaling=boto3.client("autoscaling"))
    ids = ecs_calls.container_instance_ids(ecs, props.cluster, ec2_instance_ids(props, clients) or [])
    ecs_calls.set_draining(ecs, props.cluster, ids)  # every target at once
    while clock.now() - started < SEED_LAMBDA_TIMEOUT_SECONDS:
        running = 0
        for chunk in ecs_calls.chunks(ids, ecs_calls.DESCRIBE_LIMIT):
            described = ecs.describe_container_instances(cluster=props.cluster, containerInstances=list(chunk))
            running += sum(i.get("runningTasksCount", 0) for i in described["containerInstances"])
        if running == 0:
            _answer(event, "SUCCESS", "All tasks drained (runningTasksCount is 0).", event["PhysicalResourceId"])
            return
        clock.sleep(SEED_POLL_SECONDS)
    # The Lambda timeout: the function is killed here; nothing answers CloudFormation.


def _answer(event: dict[str, Any], status: str, reason: str, physical_id: str) -> None:
    cfn_answer.send(event["ResponseURL"], cfn_answer.RequestIdentity.of_event(event, physical_id), status, reason)
