"""The Custom::ECSDrain properties: parsing, validation and the PhysicalResourceId they imply."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ..model.arns import last_part

TargetKind = Literal["SpotFleet", "Fleet", "AutoScalingGroup", "InstanceIds"]
TARGET_KINDS: tuple[TargetKind, ...] = ("SpotFleet", "Fleet", "AutoScalingGroup", "InstanceIds")

# CloudFormation gives a custom resource 3600 s in all. The drain deadline leaves room for the last
# poll interval, the final answer and its retries.
CLOUDFORMATION_CEILING_SECONDS = 3600
ANSWER_MARGIN_SECONDS = 180
DEFAULT_DRAIN_TIMEOUT_SECONDS = 3300
MAX_DRAIN_TIMEOUT_SECONDS = CLOUDFORMATION_CEILING_SECONDS - ANSWER_MARGIN_SECONDS
MIN_DRAIN_TIMEOUT_SECONDS = 60
# Started by hand there is no CloudFormation ceiling; the loop is still bounded. A drain that outlasts one
# execution's history goes on in the next execution of its chain (model/state.CHECKS_PER_EXECUTION).
MAX_MANUAL_DRAIN_SECONDS = 7 * 24 * 3600
DEFAULT_POLL_SECONDS = 15
MIN_POLL_SECONDS = 5
MAX_POLL_SECONDS = 300
MAX_INSTANCE_IDS = 1000
# Two checks at the longest poll interval: a cause must be seen more than once before the drain gives up on it.
MIN_BLOCKED_TIMEOUT_SECONDS = 60
# The preflight of a replacing Update: long enough for a new fleet to boot, start its agent and register (a few
# minutes), short enough to leave CloudFormation's hour for the rollback it may start.
DEFAULT_PREFLIGHT_TIMEOUT_SECONDS = 900
MIN_PREFLIGHT_TIMEOUT_SECONDS = 60

# FAIL and ABANDON are one policy: a Delete's drain answers FAILED; a termination hook's completes with ABANDON.
ON_TIMEOUT_VALUES = ("CONTINUE", "FAIL", "ABANDON")
# A termination hook's drain lasts at most as long as Auto Scaling holds an instance: 48 hours or 100 heartbeat
# timeouts, whichever is less (the hook itself is checked at Create and Update, aws/hook_bindings.py).
MAX_HOOK_DRAIN_SECONDS = 48 * 3600
STANDALONE_VALUES = ("WAIT", "STOP")
# FAIL: a new target that cannot take the old one's tasks fails the Update (CloudFormation rolls back); REPORT: the
# same check, reported in the answer's Data and Reason, never failing; OFF: no check, the Update is answered at once.
PREFLIGHT_VALUES = ("FAIL", "REPORT", "OFF")
PHYSICAL_ID_PREFIX = "ecs-drain:"

_CLUSTER_NAME = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
_CLUSTER_ARN = re.compile(r"^arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:cluster/([A-Za-z0-9_-]{1,255})$")
_SPOT_FLEET_ID = re.compile(r"^sfr-[0-9a-f]{8}(-?[0-9a-f]{4,}){0,4}$")
_FLEET_ID = re.compile(r"^fleet-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_INSTANCE_ID = re.compile(r"^i-([0-9a-f]{8}|[0-9a-f]{17})$")
_HOOK_NAME = re.compile(r"^[A-Za-z0-9\-_/]{1,255}$")
_ASG_ARN = re.compile(r"^arn:aws[a-z-]*:autoscaling:[^:]+:\d{12}:autoScalingGroup:[^:]+:autoScalingGroupName/(.+)$")
_KNOWN = {
    "ServiceToken",
    "ServiceTimeout",
    "Cluster",
    *TARGET_KINDS,
    "DrainTimeoutSeconds",
    "PollIntervalSeconds",
    "OnTimeout",
    "StandaloneTasks",
    "WaitForCapacity",
    "BlockedTimeoutSeconds",
    "Preflight",
    "PreflightTimeoutSeconds",
    "TerminationHook",
    "LaunchHook",
}


class InvalidProperties(ValueError):
    """One or more properties are wrong; the message names each property and what is allowed."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("Invalid properties: " + " ".join(problems))


@dataclass(frozen=True)
class DrainProperties:
    cluster: str
    target_kind: TargetKind
    target: tuple[str, ...]
    drain_timeout_seconds: int | None
    poll_interval_seconds: int
    on_timeout: str
    standalone_tasks: str
    wait_for_capacity: bool
    # Answer (as OnTimeout says) once the drain is blocked this long by a cause ECS cannot resolve; None: wait on.
    blocked_timeout_seconds: int | None = None
    preflight: str = "FAIL"
    preflight_timeout_seconds: int = DEFAULT_PREFLIGHT_TIMEOUT_SECONDS
    # The group's termination hook whose held instances ecs-drain drains (AutoScalingGroup only); None: none.
    termination_hook: str | None = None
    # DrainTimeoutSeconds as given, for the hook's drains (which may outlast CloudFormation's hour); None: the hook's
    # own limit.
    hook_drain_timeout_seconds: int | None = None
    # The group's launch hook whose held instances ecs-drain checks before they go InService (the preflight of an
    # in-place change; AutoScalingGroup only); None: none.
    launch_hook: str | None = None

    @property
    def target_name(self) -> str:
        """The target as a Reason names it: "SpotFleet sfr-...", or the kind alone for several instance ids."""
        return f"{self.target_kind} {self.target[0]}" if len(self.target) == 1 else self.target_kind

    @property
    def cluster_name(self) -> str:
        return last_part(self.cluster)


def parse(raw: Mapping[str, Any] | None, *, from_cloudformation: bool = True) -> DrainProperties:
    """Validate the properties; CloudFormation sends numbers and booleans as strings, so both are accepted."""
    props = dict(raw or {})
    problems = _unknown(props)
    cluster = _cluster(props, problems)
    kind, target = _target(props, problems)
    poll = _integer(
        props, "PollIntervalSeconds", DEFAULT_POLL_SECONDS, _Bounds(MIN_POLL_SECONDS, MAX_POLL_SECONDS), problems
    )
    hook, launch_hook = _hooks(props, kind, problems)
    limit = _TimeoutLimit.of(props, problems, from_cloudformation)
    drain = _DrainTimeouts.of(props, limit, hook is not None, problems)
    on_timeout = _word(props, "OnTimeout", "CONTINUE", ON_TIMEOUT_VALUES, problems)
    standalone = _word(props, "StandaloneTasks", "WAIT", STANDALONE_VALUES, problems)
    wait_for_capacity = _boolean(props, "WaitForCapacity", True, problems)
    blocked_bounds = _Bounds(MIN_BLOCKED_TIMEOUT_SECONDS, drain.longest, BLOCKED_CEILING)
    blocked_timeout = _integer(props, "BlockedTimeoutSeconds", None, blocked_bounds, problems)
    preflight = _word(props, "Preflight", "FAIL", PREFLIGHT_VALUES, problems)
    preflight_default = min(DEFAULT_PREFLIGHT_TIMEOUT_SECONDS, limit.ceiling)
    preflight_bounds = _Bounds(MIN_PREFLIGHT_TIMEOUT_SECONDS, limit.ceiling, limit.why)
    preflight_timeout = _integer(props, "PreflightTimeoutSeconds", preflight_default, preflight_bounds, problems)
    if problems:
        raise InvalidProperties(problems)
    assert cluster is not None and poll is not None and preflight_timeout is not None
    return DrainProperties(
        cluster=cluster,
        target_kind=kind,
        target=target,
        drain_timeout_seconds=drain.delete,
        poll_interval_seconds=poll,
        on_timeout=on_timeout,
        standalone_tasks=standalone,
        wait_for_capacity=wait_for_capacity,
        blocked_timeout_seconds=blocked_timeout,
        preflight=preflight,
        preflight_timeout_seconds=preflight_timeout,
        termination_hook=hook,
        hook_drain_timeout_seconds=drain.given if hook else None,
        launch_hook=launch_hook,
    )


def _unknown(props: Mapping[str, Any]) -> list[str]:
    unknown = sorted(set(props) - _KNOWN)
    return [unknown_properties([str(u) for u in unknown], sorted(_KNOWN - {"ServiceToken"}))] if unknown else []


BLOCKED_CEILING = "no longer than DrainTimeoutSeconds"  # why BlockedTimeoutSeconds is bounded as it is


@dataclass(frozen=True)
class _Bounds:
    low: int
    high: int
    why_max: str = ""  # why the ceiling is where it is, said to a value above it


@dataclass(frozen=True)
class _TimeoutLimit:
    """How long a drain or a preflight may take: under CloudFormation, what its request may wait for an answer (and
    why, in words); by hand, MAX_MANUAL_DRAIN_SECONDS with no default deadline."""

    ceiling: int
    default_drain: int | None
    why: str

    @classmethod
    def of(cls, props: Mapping[str, Any], problems: list[str], from_cloudformation: bool) -> _TimeoutLimit:
        if not from_cloudformation:
            return cls(MAX_MANUAL_DRAIN_SECONDS, None, "a drain by hand lasts 7 days at most")
        ceiling = _timeout_ceiling(props, problems)
        return cls(ceiling, min(DEFAULT_DRAIN_TIMEOUT_SECONDS, ceiling), _why_timeout_ceiling(props))


@dataclass(frozen=True)
class _DrainTimeouts:
    """DrainTimeoutSeconds as given, a Delete's (within CloudFormation's wait: `limit`), and the longest drain there
    may be (a termination hook's may last 48 hours)."""

    given: int | None
    delete: int | None
    longest: int

    @classmethod
    def of(cls, props: Mapping[str, Any], limit: _TimeoutLimit, hook: bool, problems: list[str]) -> _DrainTimeouts:
        ceiling = max(limit.ceiling, MAX_HOOK_DRAIN_SECONDS) if hook else limit.ceiling
        bounds = _Bounds(MIN_DRAIN_TIMEOUT_SECONDS, ceiling, _hook_why(limit.why) if hook else limit.why)
        given = _integer(props, "DrainTimeoutSeconds", None, bounds, problems)
        delete = min(given, limit.ceiling) if given is not None else limit.default_drain
        return cls(given, delete, given or (ceiling if hook else delete) or limit.ceiling)


def _cluster(props: Mapping[str, Any], problems: list[str]) -> str | None:
    cluster = props.get("Cluster")
    if cluster in (None, ""):
        problems.append(cluster_required())
    elif not isinstance(cluster, str) or not (_CLUSTER_NAME.match(cluster) or _CLUSTER_ARN.match(cluster)):
        problems.append(not_a_cluster(cluster))
    else:
        return cluster
    return None


def _target(props: Mapping[str, Any], problems: list[str]) -> tuple[TargetKind, tuple[str, ...]]:
    given = [kind for kind in TARGET_KINDS if props.get(kind) not in (None, "", [])]
    if not given and props.get("InstanceIds") == []:
        given = ["InstanceIds"]  # an empty list: its own message says what InstanceIds needs
    if len(given) != 1:
        problems.append(exactly_one_target(TARGET_KINDS, given))
        return "InstanceIds", ()
    try:
        return given[0], _parse_target(given[0], props[given[0]])
    except ValueError as error:
        problems.append(str(error))
        return given[0], ()


def _hooks(props: Mapping[str, Any], kind: TargetKind, problems: list[str]) -> tuple[str | None, str | None]:
    """TerminationHook and LaunchHook, as given."""
    hook = _hook_name(props, "TerminationHook", kind, problems)
    launch_hook = _hook_name(props, "LaunchHook", kind, problems)
    if hook is not None and hook == launch_hook:
        problems.append(same_hook(hook))
    return hook, launch_hook


def _hook_name(props: Mapping[str, Any], name: str, kind: TargetKind, problems: list[str]) -> str | None:
    value = props.get(name)
    if value in (None, ""):
        return None
    if kind != "AutoScalingGroup":
        problems.append(hook_needs_group(name, kind))
    elif not isinstance(value, str) or not _HOOK_NAME.match(value):
        problems.append(not_a_hook_name(name, value))
    else:
        return value
    return None


def _hook_why(why: str) -> str:
    return f"a termination hook's drain lasts 48 hours at most; a Delete's drain still ends {why}"


def on_timeout_policy(raw: Mapping[str, Any]) -> str:
    """OnTimeout as given, read leniently: an answer must still be given when the properties are invalid. FAIL for
    ABANDON too (one policy)."""
    value = raw.get("OnTimeout")
    return "FAIL" if isinstance(value, str) and value.strip().upper() in ("FAIL", "ABANDON") else "CONTINUE"


def preflight_policy(raw: Mapping[str, Any]) -> str:
    """Preflight as given, read leniently (an answer must still be given): REPORT only when it says so."""
    value = raw.get("Preflight")
    return "REPORT" if isinstance(value, str) and value.strip().upper() == "REPORT" else "FAIL"


def physical_resource_id(props: DrainProperties) -> str:
    """Changes exactly when the cluster or the target changes, so a replaced fleet gets a Delete of its own.

    Policy properties are left out on purpose: changing them is an in-place update.
    """
    if props.target_kind == "InstanceIds":
        digest = hashlib.sha256(",".join(sorted(props.target)).encode()).hexdigest()[:16]
        target = f"{len(props.target)}-{digest}"
    else:
        target = props.target[0]
    return f"{PHYSICAL_ID_PREFIX}{props.cluster_name}:{props.target_kind}:{target}"[:1024]


def is_ours(physical_resource_id: object) -> bool:
    return isinstance(physical_resource_id, str) and physical_resource_id.startswith(PHYSICAL_ID_PREFIX)


def _parse_target(kind: TargetKind, value: Any) -> tuple[str, ...]:
    if kind == "InstanceIds":
        ids = [v.strip() for v in value.split(",")] if isinstance(value, str) else value
        if not isinstance(ids, list) or not ids:
            raise ValueError(instance_ids_empty())
        bad = [i for i in ids if not isinstance(i, str) or not _INSTANCE_ID.match(i)]
        if bad:
            raise ValueError(not_instance_ids(bad))
        if len(set(ids)) > MAX_INSTANCE_IDS:
            raise ValueError(too_many_instance_ids(len(set(ids)), MAX_INSTANCE_IDS))
        return tuple(sorted(set(ids)))
    if not isinstance(value, str):
        raise ValueError(not_a_string(kind))
    if kind == "SpotFleet" and not _SPOT_FLEET_ID.match(value):
        raise ValueError(not_a_target_id(kind, value))
    if kind == "Fleet" and not _FLEET_ID.match(value):
        raise ValueError(not_a_target_id(kind, value))
    if kind == "AutoScalingGroup":
        arn = _ASG_ARN.match(value)
        value = arn.group(1) if arn else value
        if not 1 <= len(value) <= 255 or ":" in value:
            raise ValueError(not_a_target_id(kind, value))
    return (value,)


def _why_timeout_ceiling(props: Mapping[str, Any]) -> str:
    given = props.get("ServiceTimeout")
    service_timeout = given if given not in (None, "") and str(given).strip().isdigit() else None
    return timeout_ceiling_why(ANSWER_MARGIN_SECONDS, service_timeout, CLOUDFORMATION_CEILING_SECONDS)


def _timeout_ceiling(props: Mapping[str, Any], problems: list[str]) -> int:
    # A stack may shorten CloudFormation's wait with ServiceTimeout; the drain must end before it.
    service_timeout = _integer(props, "ServiceTimeout", None, _Bounds(1, CLOUDFORMATION_CEILING_SECONDS), problems)
    if service_timeout is None:
        return MAX_DRAIN_TIMEOUT_SECONDS
    return max(MIN_DRAIN_TIMEOUT_SECONDS, service_timeout - ANSWER_MARGIN_SECONDS)


def _integer(
    props: Mapping[str, Any], name: str, default: int | None, bounds: _Bounds, problems: list[str]
) -> int | None:
    value, low, high = props.get(name), bounds.low, bounds.high
    if value in (None, ""):
        return default
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).strip().isdigit():
        problems.append(not_whole_seconds(name, low, high, value))
        return default
    number = int(str(value).strip())
    if not low <= number <= high:
        problems.append(out_of_range(name, low, high, bounds.why_max if number > high else "", number))
        return default
    return number


def _word(props: Mapping[str, Any], name: str, default: str, allowed: tuple[str, ...], problems: list[str]) -> str:
    value = props.get(name)
    if value in (None, ""):
        return default
    if not isinstance(value, str) or value.strip().upper() not in allowed:
        problems.append(not_one_of(name, allowed, value))
        return default
    return value.strip().upper()


def _boolean(props: Mapping[str, Any], name: str, default: bool, problems: list[str]) -> bool:
    value = props.get(name)
    if value in (None, ""):
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    problems.append(not_a_boolean(name, value))
    return default


# ---- the sentences of a property that is not right (each names the property and what is allowed) ------------------
def unknown_properties(unknown: Sequence[str], allowed: Sequence[str]) -> str:
    return f"Unknown properties {', '.join(unknown)}: allowed are {', '.join(allowed)}."


def cluster_required() -> str:
    return "Cluster is required: an ECS cluster name or ARN."


def not_a_cluster(value: object) -> str:
    return f"Cluster {value!r} is not an ECS cluster name or ARN."


def exactly_one_target(kinds: Sequence[str], given: Sequence[str]) -> str:
    named = " and ".join(given) if given else "none"
    return f"Exactly one target is required, one of {', '.join(kinds)}; got {named}."


def instance_ids_empty() -> str:
    return "InstanceIds must be a non-empty list of EC2 instance ids (i-...)."


def not_instance_ids(bad: Sequence[object]) -> str:
    shown = ", ".join(b if isinstance(b, str) else repr(b) for b in bad[:5])
    return f"InstanceIds has values that are not EC2 instance ids (i-...): {shown}."


def too_many_instance_ids(count: int, most: int) -> str:
    return f"InstanceIds lists {count} instances; at most {most} are allowed."


def not_a_string(kind: str) -> str:
    return f"{kind} must be a string."


def not_a_target_id(kind: str, value: object) -> str:
    what = {
        "SpotFleet": "a Spot Fleet request id (sfr-...)",
        "Fleet": "an EC2 Fleet id (fleet-...)",
        "AutoScalingGroup": "an Auto Scaling group name or ARN",
    }[kind]
    return f"{kind} {value!r} is not {what}."


def hook_needs_group(name: str, kind: str) -> str:
    return f"{name} is a lifecycle hook of an Auto Scaling group: give AutoScalingGroup, not {kind}."


def not_a_hook_name(name: str, value: object) -> str:
    return f"{name} {value!r} is not a lifecycle hook name (1 to 255 of A-Z a-z 0-9 - _ /)."


def same_hook(name: str) -> str:
    return (
        f"TerminationHook and LaunchHook both name {name!r}: a hook has one transition; name the group's"
        " termination hook and its launch hook."
    )


def timeout_ceiling_why(margin: int, service_timeout: object | None, ceiling: int) -> str:
    if service_timeout is not None:
        return f"to leave {margin} s to answer CloudFormation within the stack's ServiceTimeout {service_timeout}"
    return f"to leave {margin} s to answer CloudFormation before its {ceiling} s limit"


def not_whole_seconds(name: str, low: int, high: int, value: object) -> str:
    return f"{name} must be a whole number of seconds from {low} to {high}; got {value!r}."


def out_of_range(name: str, low: int, high: int, why: str, number: int) -> str:
    return f"{name} must be from {low} to {high}{f' ({why})' if why else ''}; got {number}."


def not_one_of(name: str, allowed: Sequence[str], value: object) -> str:
    listed = f"{', '.join(allowed[:-1])} or {allowed[-1]}" if len(allowed) > 1 else allowed[0]
    return f"{name} must be {listed}; got {value!r}."


def not_a_boolean(name: str, value: object) -> str:
    return f"{name} must be true or false; got {value!r}."
