"""The drain state: the one definition of what travels between the state machine's steps.

The execution's state is its input (ExecutionInput: the properties as a person or CloudFormation gave them, under
a key of their own, and the request to answer) with `step` brought up to date by every step: the drain's state
(DrainState) or the preflight's (PreflightState). The state machine reads a few fields of them itself; they are
named in ASL_FIELDS, PREFLIGHT_ASL_FIELDS and STEP_ASL_FIELDS and checked against the ASL by a test. The execution's
output is ExecutionOutput.
"""

from __future__ import annotations

import base64
import math
import re
import zlib
from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum
from typing import Any, Final, Literal, NotRequired, TypedDict, cast


class Phase(StrEnum):
    """Where a drain is ($.step.drain.phase)."""

    NOTHING_TO_DRAIN = "NOTHING_TO_DRAIN"
    WAITING_FOR_CAPACITY = "WAITING_FOR_CAPACITY"
    DRAINING = "DRAINING"
    DRAINED = "DRAINED"
    DEADLINE = "DEADLINE"
    BLOCKED = "BLOCKED"  # answered early: blocked for a cause ECS cannot resolve (BlockedTimeoutSeconds)


# The phases that end the loop: the step says so ($.step.drain.over), and "Is the drain over?" answers.
FINAL_PHASES: Final = (Phase.DRAINED, Phase.DEADLINE, Phase.NOTHING_TO_DRAIN, Phase.BLOCKED)


class Cause(StrEnum):
    """Why a drain cannot finish, or what a check says of it (diagnosis finds them, decisions/findings keeps them),
    most important first: the Reason gives them in this order. What each does to the drain is in the sets below."""

    NOT_READY = "NOT_READY"  # the preflight's: the new target's instances never became ready (it fails)
    DEPLOYMENT_CONFIGURATION = "DEPLOYMENT_CONFIGURATION"  # ECS can neither start a replacement nor stop a task
    CANNOT_PLACE = "CANNOT_PLACE"  # replacements no instance can take
    NOT_ENOUGH_CAPACITY = "NOT_ENOUGH_CAPACITY"  # the others have no room yet: the drain waits
    STANDALONE_TASKS = "STANDALONE_TASKS"  # tasks of no service, which DRAINING never moves
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"  # a service went to no healthy task
    ROOM_FROM_SCALING = "ROOM_FROM_SCALING"  # room a managed-scaling capacity provider adds once tasks wait
    NOT_JUDGED = "NOT_JUDGED"  # placement the model could not judge: left to ECS, never a failure
    SEPARATE_SCHEDULES = "SEPARATE_SCHEDULES"  # other ecs-drain providers book in schedules of their own


# Causes ECS cannot resolve by itself: BlockedTimeoutSeconds answers early on them once their tasks stop moving.
BLOCKING_CAUSES: Final = frozenset({Cause.DEPLOYMENT_CONFIGURATION, Cause.CANNOT_PLACE})
# Causes that are said but hold nothing up, kept once seen and given in every ending's Reason.
WARNING_CAUSES: Final = frozenset(
    {Cause.SERVICE_UNAVAILABLE, Cause.NOT_JUDGED, Cause.ROOM_FROM_SCALING, Cause.SEPARATE_SCHEDULES}
)


class PreflightPhase(StrEnum):
    """Where the preflight of a replacing Update is ($.step.preflight.phase): it waits for the new target's
    instances, then decides."""

    WAITING_FOR_INSTANCES = "WAITING_FOR_INSTANCES"
    PASSED = "PASSED"
    FAILED = "FAILED"
    DEADLINE = "DEADLINE"


PREFLIGHT_FINAL_PHASES: Final = (PreflightPhase.PASSED, PreflightPhase.FAILED, PreflightPhase.DEADLINE)


# The execution state: what the execution was started with (ExecutionInput: the properties under PROPERTIES_KEY,
# as a person or CloudFormation gave them, and the request) and, under STEP_KEY, what the last step of the drain
# or the preflight returned (StepState), where the state machine also counts the steps failed in a row.
PROPERTIES_KEY: Final = "Properties"
REQUEST_KEY: Final = "CloudFormation"
STEP_KEY: Final = "step"
MODE_KEY: Final = "Mode"


class Mode(StrEnum):
    """The execution's mode ($.Mode)."""

    PREFLIGHT = "preflight"  # the Update of a replacement
    DRAIN = "drain"  # a Delete


# The old target's properties (OldResourceProperties, ServiceToken left out): what the preflight checks the new
# target against.
OLD_PROPERTIES_KEY: Final = "OldProperties"
PREVIOUS_ATTEMPT_KEY: Final = "PreviousAttempt"
# When the drain was asked for (epoch seconds, set by whoever starts the execution): the deadline counts from here,
# so a first step that keeps failing still ends at the deadline.
REQUESTED_AT_KEY: Final = "RequestedAt"
# Which execution of the drain's chain this is (Chain): a drain that would outlast one execution's history goes on
# in the next, named after the first.
CHAIN_KEY: Final = "Chain"
# The termination hook whose held instances this drain empties (LifecycleBatch): absent in a drain of a Delete or by
# hand.
LIFECYCLE_KEY: Final = "Lifecycle"

# What the state machine reads of the step's result: $.step.drain.<field>, $.step.preflight.<field> and
# $.step.<field>; nothing else of them is the ASL's business (a test holds these to the ASL).
ASL_FIELDS: Final = ("over", "goOn", "checks", "maxChecks", "nextCheckInSeconds", "events")
PREFLIGHT_ASL_FIELDS: Final = ("over", "checks", "maxChecks", "nextCheckInSeconds")
STEP_ASL_FIELDS: Final = ("drain", "preflight", "maxFailedTries", "failedTries", "error")

# A step that fails past its quick retries (QUICK_RETRY_SECONDS of them, no jitter) is tried again after
# RETRY_WAIT_SECONDS; the state machine counts the failures in a row ($.step.failedTries.count) and answers once
# there have been $.step.maxFailedTries of them: each lasted at least FAILED_TRY_SECONDS, so together they outlast
# the deadline. These bound the loop even when the function cannot run at all. (A test holds them to the ASL.)
RETRY_WAIT_SECONDS: Final = 15
QUICK_RETRY_SECONDS: Final = 3  # 1 s, then 2 s
FAILED_TRY_SECONDS: Final = RETRY_WAIT_SECONDS + QUICK_RETRY_SECONDS
MAX_FAILED_TRIES_KEY: Final = "maxFailedTries"
FAILED_TRIES_KEY: Final = "failedTries"
ERROR_KEY: Final = "error"
INVALID_PROPERTIES: Final = "InvalidProperties"  # the error a Catch answers at once: retrying cannot fix it


# One execution's history holds 25,000 events (a Step Functions quota: the execution fails at it). Measured on the
# emulation with this ASL: a check and the wait after it write HISTORY_EVENTS_PER_CHECK events, a failed try
# (three tries of the step, the wait, the count) HISTORY_EVENTS_PER_FAILED_TRY. An execution goes on in the next one
# of its chain after CHECKS_PER_EXECUTION checks, or after FAILED_TRIES_PER_EXECUTION failed tries in a row (the
# ASL's own count: the function may not run at all); HISTORY_EVENTS_RESERVE is left for the start, the answer and
# the handing on. (A test holds these to the ASL, and the emulation enforces the quota.)
HISTORY_EVENTS_QUOTA: Final = 25_000
HISTORY_EVENTS_PER_CHECK: Final = 13
HISTORY_EVENTS_PER_FAILED_TRY: Final = 20
HISTORY_EVENTS_RESERVE: Final = 1_000
FAILED_TRIES_PER_EXECUTION: Final = 200
CHECKS_PER_EXECUTION: Final = (
    HISTORY_EVENTS_QUOTA - HISTORY_EVENTS_RESERVE - FAILED_TRIES_PER_EXECUTION * HISTORY_EVENTS_PER_FAILED_TRY
) // HISTORY_EVENTS_PER_CHECK


def failed_tries_outlasting(seconds: float) -> int:
    """Failed tries in a row that take at least `seconds` (each lasts at least FAILED_TRY_SECONDS)."""
    return math.ceil(max(0.0, seconds) / FAILED_TRY_SECONDS) + 1


class Resources(TypedDict):
    """CPU units and MiB: in all, and the largest single piece (a task, or room on one instance)."""

    cpu: int
    memory: int
    largestCpu: int
    largestMemory: int


class Spare(Resources):
    instances: int
    # Placed task by task (when the targets' tasks were listed, see capacity.task_groups): whether they all fit on the
    # instances read, and what stopped the first that did not.
    fits: NotRequired[bool]
    unplaced: NotRequired[str]
    unjudged: NotRequired[str]  # what the model could not judge for a task no instance took (left to ECS)
    scaling: NotRequired[str]  # tasks that fit nowhere now, whose capacity provider's group scales out
    # The other rollovers and drains in flight whose claims on the room came first (decisions/claims.py), named.
    claimedBy: NotRequired[list[str]]
    claimsUnread: NotRequired[bool]  # those claims could not be read: the room was judged as ECS shows it


class TaskGroup(TypedDict):
    """The targets' tasks of one service, as the capacity gate and the preflight place them task by task."""

    service: str
    tasks: int
    heldOn: list[str]  # distinctInstance only: the other instances that run a task of it already
    targetGroups: list[str]  # its load balancers' target groups (each has a deregistration delay)
    # What each task asks of an instance: placement.TaskNeeds.to_json(). Absent in a drain started by an earlier
    # version, which kept the same keys in the group itself (placement.TaskNeeds.from_json reads either).
    needs: NotRequired[dict[str, object]]


class Summary(TypedDict):
    instances: int
    tasksAtStart: int
    drained: int
    tasksRemaining: int  # every task on the instances not drained yet that is not STOPPED
    standaloneStopped: NotRequired[int]
    failedSteps: NotRequired[int]  # steps that failed (throttled, a crash, Lambda trouble) and were tried again
    seconds: NotRequired[float]


class Timeline(TypedDict):
    startedAt: float
    capacityReadyAt: NotRequired[float]
    drainingSetAt: NotRequired[float]
    endedAt: NotRequired[float]


class TaskEvents(TypedDict):
    """What the drain does with ECS Task State Change events (docs/how-it-works.md, "The answer when the last task
    stops"): whether it watches through them, when it last read the tasks they did not report, what they reported,
    and how many STOPPED tasks they missed."""

    on: bool  # the rule is switched on and the watch in DynamoDB kept: reported tasks are not read again
    reconciledAt: NotRequired[float]  # when the watched tasks no event reported were last read
    reported: int  # watched tasks the events reported STOPPED
    missed: int  # watched tasks a read found STOPPED, unreported for longer than the events' grace
    wake: bool  # only watched tasks are left: the last one reported STOPPED wakes the drain


def no_task_events() -> TaskEvents:
    return {"on": False, "reported": 0, "missed": 0, "wake": False}


class RemainingInstance(TypedDict):
    """One instance still busy, as the Reason and `ecs-drain watch` name it."""

    ec2InstanceId: str
    containerInstance: str
    status: str
    tasks: int  # not STOPPED: meant to run, and stopping
    stopping: int


class Finding(TypedDict):
    """One reason the drain cannot finish, as `drain.diagnosis`, `watch` and the Reason show it."""

    cause: Cause
    subject: str  # "service pinned", "task group family:nightly-report (started by batch-job)", "cluster web"
    tasks: int  # tasks on the targets it holds up
    since: float  # first seen (or when ECS says it began)
    stuckSince: float  # since when its tasks have not dropped
    detail: str


class PreviousDrain(TypedDict):
    """A drain of the same resource that answered FAILED while blocked: CloudFormation's retry of the Delete
    answers at once if nothing changed."""

    execution: str
    startedAt: float  # when its service events began to count
    diagnosis: list[Finding]


class CountMemory(TypedDict):
    """What the count remembers from one check to the next: the census (steps/census.py) takes it and returns it
    whole; the rule stores it without reading it. A new field of the count is added here and in the census."""

    # Only the instances not drained yet are kept, packed (see pack_ids), so the state stays small.
    pending: str
    pendingCount: int
    # The tasks stopping on instances whose running tasks are gone, listed once per instance and watched (packed
    # task ids) until STOPPED: an instance is drained when none of its watched tasks is left.
    watched: str
    # Which pending instances had their stopping tasks listed (pack_subset of pending): described again only at
    # their end.
    listed: str
    watchedOn: NotRequired[str]  # each watched task's instance (pack_homes of pending), read between reconciles
    emptying: NotRequired[int]  # target instances with tasks meant to run, at the last check
    sweepPages: NotRequired[int]  # the pages the cluster's tasks told to stop took at the last sweep
    # Which pending instances were DRAINING with nothing meant to run but not listed yet (pack_subset of pending),
    # and when the last check described them: a sweep shared by another drain lists them if it began after that.
    unlisted: NotRequired[str]
    countedAt: NotRequired[float]


class DrainState(CountMemory):
    phase: Phase
    cluster: str
    startedAt: float
    deadline: float | None
    maxChecks: int
    checks: int
    nextCheckInSeconds: int
    over: bool  # the loop is over (a final phase): set as each step returns, the state machine's test
    # The check count reached this execution's share of the history: the state machine goes on in the next one.
    goOn: bool
    heartbeatAt: NotRequired[float]  # a termination hook's drain: when it last recorded its instances' heartbeat
    link: NotRequired[int]  # the execution of the chain (Chain.link) whose checks linkChecks counts
    linkChecks: NotRequired[int]
    checkedAt: NotRequired[float]
    eventsSince: NotRequired[float]  # service events from then on count (a retried Delete: the first attempt's start)
    events: TaskEvents
    standaloneStopped: str
    need: Resources
    groups: NotRequired[list[TaskGroup]]  # the targets' service tasks, placed task by task while waiting for room
    spare: NotRequired[Spare]
    summary: Summary
    timeline: Timeline
    remaining: list[RemainingInstance]
    diagnosis: list[Finding]
    problems: list[str]
    message: str


class NewInstances(TypedDict):
    """The new target's instances, as far as they have come: listed in EC2, registered, ACTIVE with the agent
    connected, and running every daemon service's task."""

    listed: int
    registered: int
    ready: int  # ACTIVE and agent connected
    daemonsRunning: int


class ServiceRoom(TypedDict):
    """One service with tasks on the old target: how many, and how many the instances that remain can take."""

    service: str
    tasks: int
    placed: int


class PreflightState(TypedDict):
    phase: PreflightPhase
    startedAt: float
    deadline: float
    checks: int
    maxChecks: int
    nextCheckInSeconds: int
    over: bool  # the preflight is over (a final phase): set as each step returns
    newTarget: str  # "SpotFleet sfr-..." as the Reason names it
    oldTarget: str
    newInstances: NewInstances
    waitingFor: list[str]  # what it still waits for, in words
    services: list[ServiceRoom]
    diagnosis: list[Finding]
    seconds: NotRequired[float]  # from the request to the verdict
    # How long an old task takes to stop once its replacement is healthy, at most: the longest deregistration delay
    # plus stop timeout of the services on the old target (absent when a delay could not be read).
    expectedDrainSeconds: NotRequired[int]
    message: str


class StepError(TypedDict):
    """What a Catch puts at $.step.error: the step's last failure (the next try's result replaces it)."""

    Error: str
    Cause: str


class FailedTries(TypedDict):
    count: int  # in a row: at maxFailedTries they outlast the deadline
    here: int  # in a row in this execution: at FAILED_TRIES_PER_EXECUTION it goes on in the next one


def no_failed_tries() -> FailedTries:
    return {"count": 0, "here": 0}


class Chain(TypedDict):
    """The executions of one drain or preflight: the first one's name (the others are named after it, and the
    drain's watch keeps it) and which of them this is, from 1. The state machine numbers the next."""

    name: str
    link: int


def link_name(chain: Chain) -> str:
    """What the state machine names the execution of `chain` (States.Format('{}-{}', name, link) after the first)."""
    return chain["name"] if chain["link"] == 1 else f"{chain['name']}-{chain['link']}"


class StepState(TypedDict, total=False):
    """$.step: what the last step returned (StepResult), and what the state machine added since (a failure, the
    failed tries in a row). Before the first step: only the bound."""

    drain: DrainState
    preflight: PreflightState
    maxFailedTries: int  # failed tries in a row that outlast the deadline, from the last step that ran
    failedTries: FailedTries
    error: StepError


class GatheredInstances(TypedDict):
    """The instances of a lifecycle batch, as the gathering step sealed them ($.Lifecycle.gathered)."""

    instanceIds: list[str]


class LifecycleBatch(TypedDict):
    """A termination hook's drain: the instances its hook holds that terminate together (one batch of the group's
    intake, aws/hook_bindings.py), gathered for gatherSeconds after the first one's event, then drained as one."""

    AutoScalingGroupName: str
    LifecycleHookName: str
    batch: int
    gatherSeconds: int
    heartbeatSeconds: int  # the hook's HeartbeatTimeout: the drain records a heartbeat every half of it
    gathered: NotRequired[GatheredInstances]  # set by the gathering step


class ExecutionInput(TypedDict):
    """What an execution is started with (executions.drain_input, preflight_input)."""

    Properties: dict[str, Any]  # as given: a Custom::ECSDrain's ResourceProperties, or `ecs-drain start`'s
    Mode: Mode
    RequestedAt: float
    step: StepState
    CloudFormation: NotRequired[dict[str, str]]  # the request to answer (absent: started by hand)
    OldProperties: NotRequired[dict[str, Any]]  # the preflight's: the old target's properties
    PreviousAttempt: NotRequired[PreviousDrain]
    Chain: NotRequired[Chain]  # absent in an input an older version started: a chain of one
    Lifecycle: NotRequired[LifecycleBatch]  # a termination hook's drain


class ExecutionState(ExecutionInput):
    """The whole execution state, as every task receives it."""


class StepEvent(TypedDict):
    """What a drain task of the state machine sends the DrainFunction (its Payload; a test holds them equal)."""

    Action: Literal["plan", "check", "preflight", "gather"]
    State: ExecutionState
    ExecutionName: str


class WaitEvent(TypedDict):
    """What the wait between two checks sends the DrainFunction: its task token, and whether the last watched task
    reported STOPPED may send it back (the drain waits for nothing else)."""

    Action: Literal["wait"]
    TaskToken: str
    ExecutionName: str
    Wake: bool
    Drain: NotRequired[str]  # the chain's name, under which the drain's watch is kept (else ExecutionName)


class AnswerStepEvent(TypedDict):
    """What the answering task sends the AnswerFunction (its Payload)."""

    State: ExecutionState
    ExecutionName: str


class StepResult(TypedDict, total=False):
    """What a drain task returns: the state machine puts it at $.step (a test holds its ResultSelector to it)."""

    drain: DrainState
    preflight: PreflightState
    maxFailedTries: int


class LifecycleCompletion(TypedDict):
    """How a termination hook's drain completed its instances' lifecycle actions."""

    result: str  # CONTINUE | ABANDON
    instances: int
    held: int  # the instances still held when completed (the others' actions had ended already)


class OutputCommon(TypedDict):
    mode: Mode
    outcome: str
    status: str  # SUCCESS | FAILED, as CloudFormation was (or would have been) answered
    reason: str
    cluster: str | None
    checks: int
    seconds: float | None
    diagnosis: list[Finding]
    answeredCloudFormation: bool
    startedBy: Literal["CloudFormation", "hand", "lifecycle hook"]
    lifecycleActions: NotRequired[LifecycleCompletion]  # a termination hook's drain: how it completed them


class DrainOutput(TypedDict):
    """A drain's part of the output (empty in a preflight's)."""

    instances: int
    tasksAtStart: int
    tasksRemaining: int
    standaloneTasksStopped: int
    phaseSeconds: dict[str, float]
    stillRunning: list[RemainingInstance]
    eventsSince: float | None


class PreflightOutput(TypedDict):
    """A preflight's part of the output (empty in a drain's)."""

    newTarget: str | None
    oldTarget: str | None
    newInstances: NewInstances | None
    services: list[ServiceRoom]
    waitingFor: list[str]


class ExecutionOutput(OutputCommon, DrainOutput, PreflightOutput):
    """The execution's output, what the answering step returns: read in the console, by a retried Delete
    (executions.previous_blocked) and by `ecs-drain watch`. One shape for a drain and a preflight."""


WENT_ON: Final = "WENT_ON"


class WentOnOutput(TypedDict):
    """The output of an execution that went on in the next one of its chain (the state machine's, not a step's):
    the drain's summary is the last execution's."""

    outcome: Literal["WENT_ON"]
    wentOnIn: str  # the next execution's ARN


def no_resources() -> Resources:
    return {"cpu": 0, "memory": 0, "largestCpu": 0, "largestMemory": 0}


def no_instances() -> NewInstances:
    return {"listed": 0, "registered": 0, "ready": 0, "daemonsRunning": 0}


def empty_summary() -> Summary:
    return {"instances": 0, "tasksAtStart": 0, "drained": 0, "tasksRemaining": 0}


def new_state(cluster: str, now: float, deadline: float | None, max_checks: int) -> DrainState:
    return {
        "phase": Phase.DRAINING,
        "cluster": cluster,
        "startedAt": now,
        "deadline": deadline,
        "maxChecks": max_checks,
        "checks": 0,
        "nextCheckInSeconds": 0,
        "over": False,
        "goOn": False,
        "pending": "",
        "pendingCount": 0,
        "watched": "",
        "listed": "",
        "events": no_task_events(),
        "standaloneStopped": "",
        "need": no_resources(),
        "summary": empty_summary(),
        "timeline": {"startedAt": now},
        "remaining": [],
        "diagnosis": [],
        "problems": [],
        "message": "",
    }


def execution_state(data: Mapping[str, Any]) -> ExecutionState:
    """The execution state as the steps receive it (JSON from Step Functions)."""
    return cast(ExecutionState, dict(data))


def properties_of(state: ExecutionInput) -> dict[str, Any]:
    """The properties as given; a termination hook's drain targets the instances its batch gathered."""
    given = dict(state.get(PROPERTIES_KEY) or {})
    lifecycle = state.get(LIFECYCLE_KEY)
    gathered = lifecycle.get("gathered") if lifecycle is not None else None
    if gathered is not None:
        given["InstanceIds"] = list(gathered["instanceIds"])
    return given


def chain_of(state: ExecutionInput, execution_name: str | None) -> Chain:
    """The chain this execution belongs to: as the input says, or (an input without one) a chain of this one."""
    return state.get(CHAIN_KEY) or {"name": execution_name or "", "link": 1}


def step_of(state: ExecutionInput) -> StepState:
    return state.get(STEP_KEY) or {}


_HEX32 = re.compile(r"^[0-9a-f]{32}$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def pack_ids(ids: Iterable[str]) -> str:
    """A compact string for many ids: ECS ids are 32 hex digits (16 bytes), packed raw when they all are."""
    ordered = sorted(set(ids))
    if not ordered:
        return ""
    for tag, shape in (("h", _HEX32), ("u", _UUID)):
        if all(shape.match(i) for i in ordered):
            raw = b"".join(bytes.fromhex(i.replace("-", "")) for i in ordered)
            return f"{tag}:" + base64.b64encode(raw).decode()
    return "z:" + base64.b64encode(zlib.compress(",".join(ordered).encode(), 9)).decode()


def pack_subset(ids: Iterable[str], subset: Iterable[str]) -> str:
    """Which of `ids` (packed as pack_ids packs them) are in `subset`: a bit each, in pack_ids' order."""
    chosen = set(subset)
    ordered = sorted(set(ids))
    if not chosen & set(ordered):
        return ""
    bits = bytearray((len(ordered) + 7) // 8)
    for n, i in enumerate(ordered):
        if i in chosen:
            bits[n // 8] |= 1 << (n % 8)
    return base64.b64encode(bytes(bits)).decode()


def unpack_subset(ids: Sequence[str], packed: str) -> list[str]:
    """The ids pack_subset marked, out of the same `ids`."""
    bits = base64.b64decode(packed) if packed else b""
    ordered = sorted(set(ids))
    return [i for n, i in enumerate(ordered) if n // 8 < len(bits) and bits[n // 8] >> (n % 8) & 1]


def pack_homes(ids: Iterable[str], homes: Mapping[str, str]) -> str:
    """Each task's instance (`homes`: task -> one of `ids`), as its index among `ids` in pack_ids' order: two bytes
    a task, in the order pack_ids gives the tasks."""
    index = {i: n for n, i in enumerate(sorted(set(ids)))}
    raw = b"".join(index[homes[task]].to_bytes(2, "big") for task in sorted(homes))
    return base64.b64encode(raw).decode()


def unpack_homes(ids: Sequence[str], tasks: Sequence[str], packed: str) -> dict[str, str]:
    """What pack_homes packed, for the same `ids` and the tasks in pack_ids' order; {} where it does not fit."""
    raw = base64.b64decode(packed) if packed else b""
    ordered = sorted(set(ids))
    if len(raw) != 2 * len(tasks):
        return {}
    homes = {task: int.from_bytes(raw[2 * n : 2 * n + 2], "big") for n, task in enumerate(sorted(tasks))}
    if any(i >= len(ordered) for i in homes.values()):
        return {}
    return {task: ordered[i] for task, i in homes.items()}


def unpack_ids(packed: str) -> list[str]:
    """The ids pack_ids packed, sorted."""
    if not packed:
        return []
    tag, data = packed.split(":", 1)
    raw = base64.b64decode(data)
    if tag == "z":
        return zlib.decompress(raw).decode().split(",")
    ids = [raw[n : n + 16].hex() for n in range(0, len(raw), 16)]
    return ids if tag == "h" else [f"{i[:8]}-{i[8:12]}-{i[12:16]}-{i[16:20]}-{i[20:]}" for i in ids]
