"""What the command line shows of a drain: a live table, or a line per change, and the outcome."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any, cast

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from ecs_drain.aws.executions import PREFLIGHT_SUFFIX, went_on_in
from ecs_drain.decisions import reason
from ecs_drain.model.state import BLOCKING_CAUSES, MODE_KEY, ExecutionOutput, LifecycleCompletion, Mode
from ecs_drain.steps import preflight

from . import lookup

GOOD_OUTCOMES = ("DRAINED", "NOTHING_TO_DRAIN")


def output_of(execution: dict[str, Any]) -> ExecutionOutput:
    """The execution's output, as the answering step wrote it (empty while it runs, or if it never answered)."""
    return cast("ExecutionOutput", json.loads(execution.get("output") or "{}"))


def view(execution: dict[str, Any], drain: dict[str, Any]) -> Group:
    head = Table.grid(padding=(0, 2))
    started = execution["startDate"]
    elapsed = (datetime.now(started.tzinfo) - started).total_seconds()
    deadline = drain.get("deadline")
    left = f"{(deadline - drain.get('checkedAt', deadline)) / 60:.1f} min" if deadline else "none"
    head.add_row("execution", execution["name"], "status", execution["status"])
    head.add_row("phase", drain.get("phase", "starting"), "elapsed", f"{elapsed / 60:.1f} min")
    head.add_row("instances left", str(drain.get("pendingCount", "?")), "deadline in", left)
    table = Table(title=drain.get("message", ""))
    for column in ("EC2 instance", "status", "tasks left", "of which stopping"):
        table.add_column(column)
    for row in drain.get("remaining", []):
        table.add_row(row["ec2InstanceId"], row["status"], str(row["tasks"]), str(row["stopping"]))
    findings = drain.get("diagnosis") or []
    if not findings:
        return Group(head, table)
    why = Table(title="why the drain cannot finish (most important first)")
    for column in ("what", "cause", "tasks", "since", "detail"):
        why.add_column(column, overflow="fold")
    for finding in findings:
        why.add_row(
            finding["subject"],
            finding["cause"],
            str(finding["tasks"]),
            _clock(finding["since"]),
            finding["detail"],
            style="red" if finding["cause"] in BLOCKING_CAUSES else None,
        )
    return Group(head, table, why)


def _clock(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%H:%M:%S")


def why_lines(drain: dict[str, Any]) -> list[str]:
    """The diagnosis, a line per finding, for --plain."""
    lines = []
    for f in drain.get("diagnosis") or []:
        tasks = f"{f['tasks']} task" + ("" if f["tasks"] == 1 else "s")
        lines.append(f"  why: {f['subject']}: {f['cause']}, {tasks}, since {_clock(f['since'])}: {f['detail']}")
    return lines


def emit(output: str, document: dict[str, Any]) -> None:
    """--output json: the one document a script reads, on stdout."""
    if output == "json":
        print(json.dumps(document, indent=1, default=str))


def watch(console: Console, sfn: Any, arn: str, interval: float, plain: bool, output: str = "text") -> int:
    """Follow the execution, and the executions its chain goes on in, until the last ends; exit 0 if the drain ended
    well (a preflight: if it passed). With json output, nothing is shown until the end, then the last execution's
    output (its outcome, reason and summary)."""
    console.print(f"Following {arn}")
    last = ""
    live = None if plain or console.quiet else Live(console=console, refresh_per_second=2)
    if live:
        live.start()
    try:
        while True:
            execution = sfn.describe_execution(executionArn=arn)
            following = went_on_in(execution)
            if following is not None:  # the drain goes on in the next execution of its chain: follow it there
                console.print(f"Went on in {following}")
                arn = following
                continue
            shown, line = progress(sfn, arn, execution)
            if live:
                live.update(shown)
            elif line != last:
                console.print(line)
                last = line
            if execution["status"] != "RUNNING":
                break
            time.sleep(interval)
    finally:
        if live:
            live.stop()
    code = report(console, execution)
    summary = output_of(execution)
    emit(output, {"executionArn": arn, "status": execution["status"], "exitStatus": code, **summary})
    return code


def progress(sfn: Any, arn: str, execution: dict[str, Any]) -> tuple[Group, str]:
    """The live view and the --plain lines of the execution's latest step: a drain's, or a preflight's (a replacing
    Update's, or a launch hook's check)."""
    if is_preflight(execution):
        checked = lookup.latest_drain(sfn, arn, "preflight")
        lines = [preflight_line(execution, checked), *why_lines(checked)]
        return Group(*lines), "\n".join(lines)
    drain = lookup.latest_drain(sfn, arn)
    line = "\n".join(
        [
            f"{execution['status']:<9} {drain.get('phase', 'starting'):<21} "
            f"{drain.get('pendingCount', '?')} instances, "
            f"{(drain.get('summary') or {}).get('tasksRemaining', '?')} tasks left",
            *why_lines(drain),
        ]
    )
    return view(execution, drain), line


def is_preflight(execution: dict[str, Any]) -> bool:
    """By its input's Mode (a replacing Update's preflight, a launch hook's check), or by its name where the input
    was not read."""
    given = json.loads(execution.get("input") or "{}").get(MODE_KEY)
    return given == Mode.PREFLIGHT if given is not None else PREFLIGHT_SUFFIX in execution["name"]


def preflight_line(execution: dict[str, Any], checked: dict[str, Any]) -> str:
    """A preflight's progress in a line: its phase, how far the new instances have come, what it waits for."""
    instances = checked.get("newInstances") or {}
    waiting = "; ".join(checked.get("waitingFor") or [])
    return (
        f"{execution['status']:<9} preflight {checked.get('phase', 'starting'):<21} "
        f"{instances.get('daemonsRunning', 0)} of {instances.get('listed', '?')} new instances ready"
        + (f": waiting for {waiting}" if waiting else "")
    )


def report(console: Console, execution: dict[str, Any]) -> int:
    summary = output_of(execution)
    if not summary:
        console.print(
            f"The drain ended {execution['status']}: {execution.get('error', '')} {execution.get('cause', '')}"
        )
        return 1
    console.print(f"Outcome: {summary.get('outcome')} ({summary.get('status')}). {summary.get('reason', '')}")
    actions = summary.get("lifecycleActions")
    if summary.get("mode") == Mode.PREFLIGHT:
        if actions is None:  # a replacing Update's (a launch hook's check places no old target's tasks)
            rooms = ", ".join(f"{r['service']} {r['placed']} of {r['tasks']}" for r in summary.get("services") or [])
            console.print(f"Room for the old target's tasks: {rooms or 'not checked'}")
        _lifecycle_actions(console, actions)
        return 0 if summary.get("status") == "SUCCESS" else 1
    phases = ", ".join(f"{name} {seconds} s" for name, seconds in (summary.get("phaseSeconds") or {}).items())
    console.print(
        f"Instances {summary.get('instances')}, tasks at start {summary.get('tasksAtStart')}, "
        f"seconds {summary.get('seconds')}" + (f" ({phases})" if phases else "")
    )
    _lifecycle_actions(console, actions)
    return 0 if summary.get("outcome") in GOOD_OUTCOMES else 1


def _lifecycle_actions(console: Console, actions: LifecycleCompletion | None) -> None:
    """A hook's batch: how its lifecycle actions were completed."""
    if actions is not None:
        console.print(
            f"Lifecycle actions completed with {actions['result']}: {actions['held']} of {actions['instances']}"
            " instances still held by the hook"
        )


def verdict_document(props: Any, found: preflight.Verdict, hook_problems: list[str] | None = None) -> dict[str, Any]:
    """`ecs-drain check --output json`; `hookProblems` where hooks were named (empty: they would bind)."""
    hooks = {} if hook_problems is None else {"hookProblems": hook_problems}
    return hooks | {
        "target": props.target_name,
        "cluster": props.cluster_name,
        "instances": found.instances,
        "finishes": found.finishes,
        "services": found.services,
        "findings": found.findings,
        "expectedDrainSeconds": found.expected_seconds,
    }


def bindings(console: Console, props: Any, problems: list[str]) -> None:
    """Whether the hooks named would bind, as a Create or Update would judge them."""
    named = " and ".join(
        f"{kind} {name}"
        for kind, name in (("TerminationHook", props.termination_hook), ("LaunchHook", props.launch_hook))
        if name
    )
    if not problems:
        console.print(f"[green]Would bind[/]: {named} on {props.target_name}.")
    for problem in problems:
        console.print(f"[red]Would not bind[/]: {problem}")


def verdict(console: Console, props: Any, found: preflight.Verdict, hook_problems: list[str] | None = None) -> None:
    """`ecs-drain check`: would a drain of the target finish, and what each service's tasks would need; and whether
    the hooks named would bind (`hook_problems`: why not; None: none named)."""
    if hook_problems is not None:
        bindings(console, props, hook_problems)
    target = props.target_name
    if not found.instances:
        console.print(f"{target}: no container instance of it is registered in {props.cluster_name}: nothing to drain.")
        return
    table = Table(title=f"if {target} ({found.instances} instances) were drained now")
    for column in ("service", "tasks on it", "fit elsewhere"):
        table.add_column(column, justify="left" if column == "service" else "right")
    for room in found.services:
        table.add_row(room["service"], str(room["tasks"]), str(room["placed"]))
    console.print(table)
    for finding in found.findings:
        console.print(f"- {finding['subject']}: {finding['detail']}")
    if found.expected_seconds is not None:
        console.print(reason.expected_drain(found.expected_seconds))
    if found.finishes:
        console.print(f"[green]Would finish[/]: every service task on {target} has room on the other instances.")
    else:
        console.print(
            f"[red]Would be blocked[/]: a drain of {target} could not finish (see above); nothing was changed."
        )
