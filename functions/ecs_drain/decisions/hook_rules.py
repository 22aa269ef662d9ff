"""A group's lifecycle hooks, decided: whether a hook can be bound, how long a termination hook's drains last, when
they record a heartbeat, how long a launch hook's check may last, and how both complete the lifecycle action.

The rules are Auto Scaling's (Amazon EC2 Auto Scaling User Guide, "Amazon EC2 Auto Scaling lifecycle hooks",
"Complete a lifecycle action"): a hook holds an instance until CompleteLifecycleAction or its heartbeat timeout (30 to
7,200 s; RecordLifecycleActionHeartbeat starts it again), at most 48 hours or 100 heartbeat timeouts, whichever is
less; then the hook's DefaultResult applies.
"""

from __future__ import annotations

from dataclasses import dataclass

from .properties import MAX_HOOK_DRAIN_SECONDS, DrainProperties

TERMINATING = "autoscaling:EC2_INSTANCE_TERMINATING"
LAUNCHING = "autoscaling:EC2_INSTANCE_LAUNCHING"
# The state an instance is held in, per transition (DescribeAutoScalingGroups' LifecycleState).
HELD_STATES = {TERMINATING: "Terminating:Wait", LAUNCHING: "Pending:Wait"}
MAX_HEARTBEAT_TIMEOUTS = 100
# The instances of one group that its hook holds within this many seconds of the first one's event join one drain.
GATHER_SECONDS = 15
# A hook's drain ends this long before Auto Scaling would end the action itself, so its own ending is what counts.
HOOK_MARGIN_SECONDS = 120


@dataclass(frozen=True)
class Hook:
    """A lifecycle hook as DescribeLifecycleHooks shows it."""

    name: str
    transition: str
    heartbeat_seconds: int
    default_result: str


def hold_limit_seconds(heartbeat_seconds: int) -> int:
    """How long Auto Scaling holds an instance on this hook, heartbeats or not."""
    return min(MAX_HOOK_DRAIN_SECONDS, MAX_HEARTBEAT_TIMEOUTS * heartbeat_seconds)


def hook_drain_seconds(props: DrainProperties, heartbeat_seconds: int) -> int:
    """How long a drain of the hook's instances may last: DrainTimeoutSeconds as given, within the hook's hold."""
    ceiling = hold_limit_seconds(heartbeat_seconds) - HOOK_MARGIN_SECONDS
    given = props.hook_drain_timeout_seconds
    return max(60, min(given, ceiling) if given is not None else ceiling)


def binding_problems(props: DrainProperties, hook: Hook | None, managed: list[str]) -> list[str]:
    """Why the group's hook cannot be bound as the properties say (empty: it can); `managed`: the capacity providers
    on the group whose ECS managed draining is on."""
    name, group = props.termination_hook, props.target[0]
    if hook is None:
        return [hook_not_found("TerminationHook", str(name), group, TERMINATING)]
    problems = [managed_draining_on(group, managed)] if managed else []
    if hook.transition != TERMINATING:
        problems.append(wrong_transition("TerminationHook", hook.name, hook.transition, TERMINATING))
    if props.poll_interval_seconds > hook.heartbeat_seconds // 2:
        problems.append(poll_too_slow(props.poll_interval_seconds, hook.name, hook.heartbeat_seconds))
    given, limit = props.hook_drain_timeout_seconds, hold_limit_seconds(hook.heartbeat_seconds)
    if given is not None and given > limit - HOOK_MARGIN_SECONDS:
        problems.append(drain_past_hold(given, hook.name, hook.heartbeat_seconds, limit - HOOK_MARGIN_SECONDS))
    return problems


def launch_hold_seconds(props: DrainProperties) -> int:
    """How long a launch hook must hold an instance for its check to end first: the gathering, PreflightTimeoutSeconds
    and the margin to complete the action. The check records no heartbeat: the hook's HeartbeatTimeout covers it."""
    return GATHER_SECONDS + props.preflight_timeout_seconds + HOOK_MARGIN_SECONDS


def launch_binding_problems(props: DrainProperties, hook: Hook | None) -> list[str]:
    """Why the group's launch hook cannot be bound as the properties say (empty: it can)."""
    name, group = props.launch_hook, props.target[0]
    if hook is None:
        return [hook_not_found("LaunchHook", str(name), group, LAUNCHING)]
    problems = []
    if hook.transition != LAUNCHING:
        problems.append(wrong_transition("LaunchHook", hook.name, hook.transition, LAUNCHING))
    if hook.heartbeat_seconds < launch_hold_seconds(props):
        problems.append(check_past_hold(props.preflight_timeout_seconds, hook.name, hook.heartbeat_seconds))
    return problems


def heartbeat_due(last: float | None, now: float, heartbeat_seconds: int) -> bool:
    """Whether the drain records its instances' heartbeat now: every half timeout, so a check late by up to a poll
    interval (at most half the timeout, binding_problems) still comes before the hook gives up."""
    return last is None or now - last >= heartbeat_seconds / 2


def lifecycle_result(status: str) -> str:
    """The result the drain completes its instances' actions with: CONTINUE once drained (or as OnTimeout CONTINUE
    says), ABANDON where OnTimeout says FAIL or ABANDON (a group that retains abandoned instances keeps them)."""
    return "CONTINUE" if status == "SUCCESS" else "ABANDON"


# ---- the sentences -------------------------------------------------------------------------------------------------
def hook_not_found(prop: str, name: str, group: str, transition: str) -> str:
    return (
        f"{prop} {name!r} is not a lifecycle hook of the Auto Scaling group {group}: declare it in the group's"
        f" LifecycleHookSpecificationList (LifecycleTransition {transition})."
    )


def managed_draining_on(group: str, providers: list[str]) -> str:
    return (
        f"TerminationHook: the Auto Scaling group {group} is the capacity provider {', '.join(providers)}'s, whose ECS"
        " managed instance draining (on by default) drains the same instances on a hook of its own: set its"
        " managedDraining to DISABLED, or leave TerminationHook out and let ECS drain them."
    )


def wrong_transition(prop: str, name: str, transition: str, wanted: str) -> str:
    return f"{prop} {name!r} is a hook of {transition}, not of {wanted}."


def check_past_hold(timeout: int, name: str, heartbeat: int) -> str:
    needed = GATHER_SECONDS + timeout + HOOK_MARGIN_SECONDS
    return (
        f"LaunchHook {name!r}: its HeartbeatTimeout {heartbeat} would let a new instance go before its check ends"
        f" (PreflightTimeoutSeconds {timeout}, {GATHER_SECONDS} s gathering the instances launched together,"
        f" {HOOK_MARGIN_SECONDS} s to complete): set the hook's HeartbeatTimeout to {needed} or more, or lower"
        " PreflightTimeoutSeconds."
    )


def poll_too_slow(poll: int, name: str, heartbeat: int) -> str:
    return (
        f"PollIntervalSeconds {poll} is more than half the HeartbeatTimeout {heartbeat} of the hook {name!r}: the"
        f" drain records a heartbeat at its checks; set PollIntervalSeconds to {max(5, heartbeat // 2)} or less, or"
        " raise the hook's HeartbeatTimeout."
    )


def drain_past_hold(given: int, name: str, heartbeat: int, most: int) -> str:
    return (
        f"DrainTimeoutSeconds {given} is longer than the hook {name!r} can hold an instance (100 heartbeat timeouts"
        f" of {heartbeat} s, or 48 hours, less {HOOK_MARGIN_SECONDS} s to complete): at most {most}, or raise the"
        " hook's HeartbeatTimeout."
    )
