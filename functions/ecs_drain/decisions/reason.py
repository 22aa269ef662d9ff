"""What CloudFormation and the execution show of a drain's course: the Reason, the state's message, the summary.

One module, so the wording is consistent and can be read in one place; why an instance refuses a task is said beside
each placement rule (placement.py). It depends on the state's shape only; the
modules that decide (properties, draining, diagnosis, outcome, the handlers) call it with what they found.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from ..model.state import DrainState, Finding, Phase, Resources, Spare


def _clock(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%H:%M:%S UTC")


def _tasks(count: int) -> str:
    return f"{count} task" + ("" if count == 1 else "s")


def _instances(count: int) -> str:
    return f"{count} instance" + ("" if count == 1 else "s")


# ---- the drain's end ----------------------------------------------------------------------------------------------
FAILURE_CAUSE_LENGTH = 600  # of an error's text, as a Reason quotes it


def failure(error: BaseException) -> str:
    """An error as a Reason names it: its type, and the start of its text."""
    return failure_of(type(error).__name__, str(error))


def failure_of(name: str, cause: str) -> str:
    """A failure a Catch recorded ($.step.error: its Error and Cause), as a Reason names it."""
    return f"{name}: {cause[:FAILURE_CAUSE_LENGTH]}"


def target_gone(target: str) -> str:
    return f"{target} no longer exists: nothing to drain."


def target_empty(target: str) -> str:
    return f"{target} has no running instances: nothing to drain."


def not_registered(instances: int, target: str, cluster: str) -> str:
    return f"None of the {instances} instances of {target} is registered in {cluster}: nothing to drain."


def target_stays(target: str) -> str:
    return (
        f"{target} stays in the stack (the resource was removed from the template, the target was not): nothing "
        "drained."
    )


def cluster_gone(cluster: str) -> str:
    return f"Cluster {cluster} no longer exists: nothing left to drain."


def drained(instances: int, warnings: Sequence[Finding]) -> str:
    """What users of a service saw during a drain that finished is named, since the drain caused it."""
    done = f"Drained {instances} container instances: every task on them is STOPPED."
    return done + (f" Warning: {findings(warnings)}" if warnings else "")


def still_blocked(previous_execution: str, drain: DrainState) -> str:
    return (
        f"Still blocked, as the previous attempt ({previous_execution}) found; nothing has changed since. "
        f"{why(drain)}{remaining(drain)}"
    )


def blocked_for(seconds: float, blocked_timeout: int, drain: DrainState) -> str:
    return (
        f"Blocked for {round(seconds)} s by a cause ECS cannot resolve by itself, with nothing else left to drain "
        f"(BlockedTimeoutSeconds {blocked_timeout}). {why(drain)}{remaining(drain)}"
    )


def deadline_reached(drain: DrainState) -> str:
    return f"Deadline reached with tasks still running. {why(drain)}{remaining(drain)}"


def deadline_while_failing(failure: str, drain: DrainState | None) -> str:
    """The deadline came while the drain's own steps kept failing (tried again until then)."""
    if drain is None:
        return f"Deadline reached before the drain could start: {failure}."
    return f"Deadline reached while the drain step kept failing ({failure}). {why(drain)}{remaining(drain)}".strip()


def could_not_go_on(failure: str, drain: DrainState | None) -> str:
    still = f" {why(drain)}{remaining(drain)}".rstrip() if drain else ""
    return f"The drain could not go on ({failure}).{still}"


def never_started() -> str:
    return "The drain never started."


def stopped_after_checks(drain: DrainState) -> str:
    return f"The drain stopped after {drain['checks']} checks. {why(drain)}{remaining(drain)}"


def ended_without_answer(execution: str, status: str) -> str:
    return f"The drain execution {execution} ended {status} before it answered CloudFormation."


def policy_note(policy: str) -> str:
    """What the answer to an unfinished drain makes CloudFormation do, as AWS documents it (docs/properties.md)."""
    if policy == "CONTINUE":
        return " OnTimeout=CONTINUE: CloudFormation goes on and deletes the old capacity."
    return (
        " OnTimeout=FAIL: in a stack update CloudFormation tries this Delete three times (each a new drain), then"
        " skips it and continues the cleanup, which may still delete the old capacity (AWS does not say); in a stack"
        " deletion the stack stops in DELETE_FAILED."
    )


def hook_policy_note(policy: str) -> str:
    """What an unfinished termination hook's drain does with its instances' lifecycle actions (docs/properties.md)."""
    if policy == "CONTINUE":
        return " OnTimeout=CONTINUE: the lifecycle actions are completed with CONTINUE; the instances terminate."
    return (
        " OnTimeout=ABANDON: the lifecycle actions are completed with ABANDON; the instances terminate, unless the"
        " group's instance lifecycle policy retains them (TerminateHookAbandon: retain), tasks and all."
    )


def why(drain: DrainState) -> str:
    """Why the drain cannot finish, for the Reason: before what still runs, the most important first."""
    return f"Why: {findings(drain['diagnosis'])} " if drain.get("diagnosis") else ""


def remaining(drain: DrainState) -> str:
    """Name what still runs, per instance, for the Reason CloudFormation shows."""
    busy = drain["remaining"]
    if not busy:
        return ""
    parts = [
        f"{r['ec2InstanceId']} ({r['status']}): {_tasks(r['tasks'])}"
        + (f", {r['stopping']} stopping" if r["stopping"] else "")
        for r in busy
    ]
    more = drain["pendingCount"] - len(busy)
    waiting = (
        " Busy instances were not set DRAINING: spare capacity never became enough."
        if drain["phase"] == Phase.WAITING_FOR_CAPACITY
        else ""
    )
    return "Still running: " + "; ".join(parts) + (f"; and {more} more instances." if more > 0 else ".") + waiting


# ---- the drain under way ------------------------------------------------------------------------------------------
def progress(
    drain: DrainState, tasks: int, instances: int, unlisted: int, first: Finding | None, more_findings: int
) -> str:
    """The state's message after a check that did not end the drain."""
    need = drain["need"]
    waiting = (
        f"Waiting for capacity: need {need['cpu']} CPU / {need['memory']} MiB elsewhere. "
        if drain["phase"] == Phase.WAITING_FOR_CAPACITY
        else ""
    )
    message = f"{waiting}{_tasks(tasks)} on {_instances(instances)} still running."
    if unlisted:
        message += f" {_instances(unlisted)} with no running task still to be listed."
    if first is not None:
        message += f" Diagnosis: {first['subject']}: {first['cause']}" + (
            f" (+{more_findings} more)." if more_findings else "."
        )
    return message


def findings(found: Iterable[Finding]) -> str:
    """One sentence per finding, most important first, for the Reason, the message and `watch`."""
    return " ".join(f"{f['subject']}: {f['detail']} (since {_clock(f['since'])})." for f in found)


# ---- what the diagnosis found -------------------------------------------------------------------------------------
def deployment_configuration(min_healthy: int, max_percent: int, desired: int) -> str:
    return (
        f"minimumHealthyPercent {min_healthy} and maximumPercent {max_percent} of {desired} desired tasks let ECS "
        "neither start a replacement nor stop a task, so its tasks never leave a draining instance; lower "
        "minimumHealthyPercent or raise maximumPercent"
    )


def cannot_place(closest: str | None, constraints: Sequence[str]) -> str:
    requirement = f"the closest instance {closest}" if closest else "no container instance met all of its requirements"
    placement = f"; placement constraints: {', '.join(constraints)}" if constraints else ""
    return f"ECS cannot place its replacement tasks: {requirement}{placement}"


def goes_to_zero(min_healthy: int, max_percent: int, desired: int) -> str:
    return (
        f"minimumHealthyPercent {min_healthy} and maximumPercent {max_percent}: draining takes all {desired} of its "
        "tasks down before a replacement is healthy, so it drops to zero healthy targets for a while and its users "
        "see errors"
    )


def on_targets(tasks: int, detail: str) -> str:
    return f"{_tasks(tasks)} on the targets; {detail}"


def on_old_target(tasks: int, detail: str) -> str:
    return f"{_tasks(tasks)} on the old target; {detail}"


def not_enough_capacity(need: Resources, spare: Spare) -> str:
    return _not_enough(need, spare) + room_claimed_by(spare.get("claimedBy") or [])


def _not_enough(need: Resources, spare: Spare) -> str:
    missing_cpu, missing_memory = max(0, need["cpu"] - spare["cpu"]), max(0, need["memory"] - spare["memory"])
    detail = (
        f"the targets' service tasks need {need['cpu']} CPU units / {need['memory']} MiB elsewhere (largest task "
        f"{need['largestCpu']} / {need['largestMemory']}); {spare['instances']} other ACTIVE instances have "
        f"{spare['cpu']} / {spare['memory']} free (largest {spare['largestCpu']} / {spare['largestMemory']})"
    )
    if missing_cpu or missing_memory:
        return detail + f": {missing_cpu} CPU units and {missing_memory} MiB missing"
    if "unplaced" in spare:
        return detail + f"; placed task by task, {spare['unplaced']}"
    return detail + ": no one instance has room for the largest task"


def standalone_tasks(count: int, running_minutes: int | None) -> str:
    ran = f", running for {running_minutes} min" if running_minutes is not None else ""
    noun = "standalone task belongs" if count == 1 else "standalone tasks belong"
    return (
        f"{count} {noun} to no service{ran}; DRAINING never moves them, and StandaloneTasks=WAIT waits for them to "
        "end (STOP would stop them)"
    )


# ---- the preflight of a replacing Update --------------------------------------------------------------------------
def _ids(ids: Sequence[str], most: int = 10) -> str:
    shown = ", ".join(ids[:most])
    return shown + (f" and {len(ids) - most} more" if len(ids) > most else "")


def new_target_empty(target: str) -> str:
    return f"{target} has no instances yet"


def new_target_filling(target: str, fulfilled: float, wanted: float) -> str:
    return f"{target} has launched {fulfilled:g} of the {wanted:g} capacity units it asks for"


def new_not_registered(ec2_ids: Sequence[str], listed: int, target: str, cluster: str) -> str:
    return (
        f"{len(ec2_ids)} of the {listed} instances of {target} never registered in cluster {cluster} "
        f"({_ids(ec2_ids)}): their ECS agent did not start or cannot reach ECS; check the AMI, the user data "
        "(ECS_CLUSTER), the instance role and the network"
    )


def new_not_ready(ec2_ids: Sequence[str], target: str) -> str:
    return (
        f"{len(ec2_ids)} instances of {target} are registered but not ACTIVE with the agent connected ({_ids(ec2_ids)})"
    )


def daemon_not_running(service: str, ec2_ids: Sequence[str]) -> str:
    return (
        f"daemon service {service} has no RUNNING task on {len(ec2_ids)} new instances ({_ids(ec2_ids)}): its "
        "containers do not start there; check the AMI and the service's events"
    )


def tasks_fit_nowhere(
    tasks: int, unplaced: int, why: str, constraints: Sequence[str], closest: str | None = None
) -> str:
    placement = f"; placement constraints: {', '.join(constraints)}" if constraints else ""
    nearest = f"closest, {closest}" if closest else "closest"
    return (
        f"{_tasks(tasks)} on the old target; {unplaced} of them fit on no instance that remains ({nearest}: {why}"
        f"{placement}); give the new fleet larger instances, more of them, or the attributes the service needs"
    )


def room_claimed_by(others: Sequence[str]) -> str:
    """What a task that fits nowhere was not given, where other rollovers or drains claim the same room."""
    if not others:
        return ""
    return (
        f". Other rollovers and drains in flight in the cluster claim room too: {'; '.join(others)}. Their targets "
        "(old, and new until their Update passes) are not counted as room, and the room the earlier of them need "
        "is theirs (the free figures are what they leave): roll or drain one at a time, or add room"
    )


def claims_unread() -> str:
    return (
        "what other rollovers and drains in flight claim of the cluster's room could not be read (the call budget "
        "table): the room is judged as ECS shows it"
    )


def placement_not_judged(tasks: int, unjudged: int, what: str) -> str:
    return (
        f"{_tasks(tasks)} on the old target; for {unjudged} of them the placement could not be judged ({what}): "
        "not a failure; the drain watches ECS place them"
    )


def scales_out(services: Sequence[str]) -> str:
    return (
        f"room comes from scaling out: the tasks of {', '.join(f'service {s}' for s in services)} fit on no instance "
        "now, and their capacity provider's Auto Scaling group (managed scaling, below its maximum size) grows once "
        "they wait to be placed"
    )


def cannot_read_providers(providers: Sequence[str]) -> str:
    return f"whether capacity providers {', '.join(providers)} scale out could not be read"


def gate_not_judged(what: str) -> str:
    return (
        f"placement could not be judged for {what}; the drain does not wait on it: CPU and memory in aggregate "
        "decide, and ECS places the replacements"
    )


def preflight_waiting(new_target: str, waiting_for: Sequence[str]) -> str:
    return f"Preflight: waiting for {new_target}: " + "; ".join(waiting_for) + "."


def preflight_passed(
    new_target: str, ready: int, services: int, expected: int | None, warnings: Sequence[Finding]
) -> str:
    return (
        f"Preflight passed: {_instances(ready)} of {new_target} {'is' if ready == 1 else 'are'} registered, ACTIVE and "
        f"{'runs its' if ready == 1 else 'run their'} daemon tasks, and "
        f"the instances that remain can take every task of the {services} services on the old target."
        + (f" {expected_drain(expected)}" if expected is not None else "")
        + (f" Warning: {findings(warnings)}" if warnings else "")
    )


def expected_drain(seconds: int) -> str:
    return (
        f"Draining it: once its replacements are healthy, an old task takes up to {seconds} s to stop (the longest "
        "deregistration delay plus stop timeout of its services); placing and starting the replacements comes first."
    )


def preflight_failed(old_target: str, found: Iterable[Finding]) -> str:
    return (
        f"Preflight failed: draining {old_target} would not finish, so CloudFormation rolls this update back while "
        f"the old capacity still serves. Why: {findings(found)}"
    )


def preflight_deadline(timeout: int, new_target: str, waiting_for: Sequence[str]) -> str:
    return (
        f"Preflight failed: after {timeout} s (PreflightTimeoutSeconds) it was still waiting for {new_target}: "
        + "; ".join(waiting_for)
        + ". CloudFormation rolls this update back while the old capacity still serves."
    )


def preflight_could_not_run(failure: str) -> str:
    return (
        f"Preflight failed: the new capacity could not be checked before the deadline ({failure}), so the update "
        "is rolled back rather than trusted. Deploy again, or choose Preflight REPORT or OFF."
    )


def launch_refuses(tasks: int, ec2_ids: Sequence[str], why: str, constraints: Sequence[str]) -> str:
    placement = f"; placement constraints: {', '.join(constraints)}" if constraints else ""
    return (
        f"{_tasks(tasks)} on the group's other instances; ECS would place none of them on the new instances"
        f" ({_ids(ec2_ids)}: {why}{placement}), and the change replaces every instance with one like these; give the"
        " launch template the attributes, platform or size the service needs, or change its constraints"
    )


def launch_claim(group: str, instances: int) -> str:
    """Who claims, where a launch hook's check holds new instances undecided."""
    return f"the launch check of {_instances(instances)} of Auto Scaling group {group} (not room until it passes)"


def launch_not_judged(what: str) -> str:
    return f"whether the new instances take its tasks could not be judged ({what}): not a failure; the drains watch ECS"


def launch_passed(new_target: str, group: str, ready: int, warnings: Sequence[Finding]) -> str:
    return (
        f"Launch check passed: {_instances(ready)} of {new_target} launched by the Auto Scaling group {group}"
        f" {'is' if ready == 1 else 'are'} registered, ACTIVE and {'runs its' if ready == 1 else 'run their'} daemon"
        " tasks, and ECS would place the group's service tasks on them: CONTINUE (they go InService)."
        + (f" Warning: {findings(warnings)}" if warnings else "")
    )


_LAUNCH_ABANDONED = (
    " Their lifecycle actions are completed with ABANDON (the group terminates them), and HookDrainBlocked goes to 1"
    " for the group: a refresh whose AlarmSpecification names the alarm on it fails and rolls back while the old"
    " instances still serve."
)


def launch_failed(new_target: str, group: str, found: Iterable[Finding]) -> str:
    return (
        f"Launch check failed: {new_target} launched by the Auto Scaling group {group} would not take the group's"
        f" tasks. Why: {findings(found)}" + _LAUNCH_ABANDONED
    )


def launch_unchecked(said: str) -> str:
    """A launch check whose steps kept failing to its deadline (our trouble): the preflight's words, and the action."""
    return f"Launch check: {said}" + _LAUNCH_ABANDONED


def launch_deadline(timeout: int, new_target: str, group: str, waiting_for: Sequence[str]) -> str:
    return (
        f"Launch check failed: after {timeout} s (PreflightTimeoutSeconds) it was still waiting for {new_target}"
        f" launched by the Auto Scaling group {group}: " + "; ".join(waiting_for) + "." + _LAUNCH_ABANDONED
    )


def preflight_report_only(said: str) -> str:
    return f"Preflight=REPORT, so the update goes on. {said}"


# ---- requests the custom resource refuses -------------------------------------------------------------------------
def unknown_request_type(request_type: object, known: Sequence[str]) -> str:
    return f"RequestType {request_type!r} is not one of {', '.join(known)}."


def not_from_cloudformation(missing: Sequence[str]) -> str:
    return f"The request is missing {', '.join(missing)}: it is not from CloudFormation."


def nothing_drained(error: Exception) -> str:
    return f"Nothing was drained: {error}"


def provider_failed(error: Exception) -> str:
    return f"ecs-drain failed: {type(error).__name__}: {error}"


# ---- a cluster that is not there ----------------------------------------------------------------------------------
def cluster_not_found(cluster: str) -> str:
    return f"Cluster {cluster!r} does not exist or is not ACTIVE."


# ---- the account's schedules --------------------------------------------------------------------------------------
def separate_schedules(tables: Sequence[str]) -> str:
    return (
        f"{len(tables)} ecs-drain providers in this account and Region book their ECS calls in schedules of their own "
        f"({', '.join(tables)}): together their drains may take {len(tables)} times EcsReadCallsPerSecond of the "
        "account's shared ECS read rate; set SharedCallBudgetTable on every provider but one"
    )
