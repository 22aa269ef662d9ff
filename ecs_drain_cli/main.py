"""ecs-drain: follow a drain live, or drain a target by hand through the deployed state machine."""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import UTC, datetime
from typing import Any

import boto3
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from ecs_drain import clock
from ecs_drain.diagnosis import BLOCKING_CAUSES
from ecs_drain.executions import drain_input
from ecs_drain.properties import InvalidProperties, parse

from . import lookup

GOOD_OUTCOMES = ("DRAINED", "NOTHING_TO_DRAIN")


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="ecs-drain", description=__doc__)
    root.add_argument("--provider-stack", default="ecs-drain", help="the stack that deployed ecs-drain")
    root.add_argument(
        "--state-machine-arn",
        default=os.environ.get("ECS_DRAIN_STATE_MACHINE_ARN"),
        help="the drain state machine (default: from the provider stack's outputs)",
    )
    root.add_argument("--region", default=None)
    commands = root.add_subparsers(dest="command", required=True)
    watch = commands.add_parser("watch", help="follow a drain until it ends")
    which = watch.add_mutually_exclusive_group(required=True)
    which.add_argument("--stack", help="the consumer stack whose Custom::ECSDrain is draining")
    which.add_argument("--execution-arn")
    watch.add_argument("--interval", type=float, default=5.0, help="seconds between refreshes")
    watch.add_argument("--plain", action="store_true", help="print a line per change instead of a live table")
    start = commands.add_parser("start", help="drain a target by hand, without CloudFormation")
    start.add_argument("--cluster", required=True)
    target = start.add_mutually_exclusive_group(required=True)
    target.add_argument("--spot-fleet")
    target.add_argument("--fleet")
    target.add_argument("--auto-scaling-group")
    target.add_argument("--instance-ids", help="comma-separated EC2 instance ids")
    start.add_argument("--timeout", type=int, help="DrainTimeoutSeconds (default: no deadline)")
    start.add_argument("--poll", type=int, help="PollIntervalSeconds")
    start.add_argument("--on-timeout", choices=("CONTINUE", "FAIL"))
    start.add_argument("--standalone-tasks", choices=("WAIT", "STOP"))
    start.add_argument("--no-wait-for-capacity", action="store_true")
    start.add_argument("--watch", action="store_true", help="then follow it until it ends")
    start.add_argument("--plain", action="store_true")
    start.add_argument("--interval", type=float, default=5.0)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    console = Console(soft_wrap=True)
    sfn = boto3.client("stepfunctions", region_name=args.region)
    machine = args.state_machine_arn or lookup.state_machine_arn(
        boto3.client("cloudformation", region_name=args.region), args.provider_stack
    )
    if args.command == "start":
        try:
            execution_input = start_input(args)
        except InvalidProperties as error:  # checked before anything starts
            Console(stderr=True).print(f"ecs-drain start: {error}")
            return 2
        arn = lookup.start(sfn, machine, manual_name(args.cluster), execution_input)
        console.print(f"Started {arn}")
        return watch(console, sfn, arn, args.interval, args.plain) if args.watch else 0
    arn = args.execution_arn or lookup.find_execution(sfn, machine, args.stack)
    return watch(console, sfn, arn, args.interval, args.plain)


def start_input(args: argparse.Namespace) -> dict[str, Any]:
    """The same property names Custom::ECSDrain takes."""
    given = {
        "Cluster": args.cluster,
        "SpotFleet": args.spot_fleet,
        "Fleet": args.fleet,
        "AutoScalingGroup": args.auto_scaling_group,
        "InstanceIds": args.instance_ids.split(",") if args.instance_ids else None,
        "DrainTimeoutSeconds": args.timeout,
        "PollIntervalSeconds": args.poll,
        "OnTimeout": args.on_timeout,
        "StandaloneTasks": args.standalone_tasks,
        "WaitForCapacity": False if args.no_wait_for_capacity else None,
    }
    properties = {k: v for k, v in given.items() if v is not None}
    return drain_input(properties, parse(properties, from_cloudformation=False), clock.now())


def manual_name(cluster: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return f"manual-{cluster.rsplit('/', 1)[-1]}-{stamp}"[:80]


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


def watch(console: Console, sfn: Any, arn: str, interval: float, plain: bool) -> int:
    """Follow the execution until it ends; exit 0 if the drain ended well."""
    last = ""
    live = None if plain else Live(console=console, refresh_per_second=2)
    if live:
        live.start()
    try:
        while True:
            execution = sfn.describe_execution(executionArn=arn)
            drain = lookup.latest_drain(sfn, arn)
            if live:
                live.update(view(execution, drain))
            else:
                line = "\n".join(
                    [
                        f"{execution['status']:<9} {drain.get('phase', 'starting'):<21} "
                        f"{drain.get('pendingCount', '?')} instances, "
                        f"{(drain.get('summary') or {}).get('tasksRemaining', '?')} tasks left",
                        *why_lines(drain),
                    ]
                )
                if line != last:
                    console.print(line)
                    last = line
            if execution["status"] != "RUNNING":
                break
            time.sleep(interval)
    finally:
        if live:
            live.stop()
    return report(console, execution)


def report(console: Console, execution: dict[str, Any]) -> int:
    summary = json.loads(execution.get("output") or "{}")
    if not summary:
        console.print(
            f"The drain ended {execution['status']}: {execution.get('error', '')} {execution.get('cause', '')}"
        )
        return 1
    console.print(f"Outcome: {summary.get('outcome')} ({summary.get('status')}). {summary.get('reason', '')}")
    console.print(
        f"Instances {summary.get('instances')}, tasks at start {summary.get('tasksAtStart')}, "
        f"seconds {summary.get('seconds')}, phases {summary.get('phaseSeconds')}"
    )
    return 0 if summary.get("outcome") in GOOD_OUTCOMES else 1
