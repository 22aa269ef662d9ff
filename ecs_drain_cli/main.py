"""ecs-drain: follow a drain live, drain a target by hand through the deployed state machine, or check whether a
drain of a target would finish."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError, ProfileNotFound
from rich.console import Console

from ecs_drain.aws.clients import Clients
from ecs_drain.aws.executions import drain_input
from ecs_drain.aws.room_claims import RoomBook
from ecs_drain.decisions.properties import DrainProperties, InvalidProperties, parse
from ecs_drain.runtime import clock
from ecs_drain.steps import hooks, preflight

from . import display, lookup
from .options import TARGET_NOT_IN_CLUSTER, UsageExit, fail, parser, unknown_options, usage_document, wants_json

USAGE_OR_AWS_ERROR = 2


class UsageError(Exception):
    """Something the user gave does not exist or cannot be used: one line says what, nothing was started."""


def main(argv: list[str] | None = None) -> int:
    given = sys.argv[1:] if argv is None else argv
    try:
        args = _parsed(given)
    except UsageExit as usage:  # under --output json, a usage error is a document on stdout too
        if wants_json(given):
            print(usage_document(usage.line))
        raise
    try:
        return run(args)
    except (UsageError, InvalidProperties, LookupError, BotoCoreError, ClientError) as error:
        if args.debug:
            raise
        line = f"ecs-drain {args.command}: {explain(error)}"
        print(line, file=sys.stderr)
        display.emit(args.output, {"error": line, "exitStatus": USAGE_OR_AWS_ERROR})
        return USAGE_OR_AWS_ERROR


def _parsed(given: list[str]) -> argparse.Namespace:
    root = parser()
    unknown = unknown_options(root, given)
    if unknown:
        fail(f"ecs-drain: {unknown} (see ecs-drain --help)")
    return root.parse_args(given)


def region(args: argparse.Namespace) -> str | None:
    """As the AWS CLI reads it: --region, then AWS_REGION, then AWS_DEFAULT_REGION, then the profile's (boto3)."""
    return args.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None


def run(args: argparse.Namespace) -> int:
    console = Console(soft_wrap=True, quiet=args.output == "json")  # json: only the document, on stdout
    if args.command == "check":
        hooks_named = {"TerminationHook": args.termination_hook, "LaunchHook": args.launch_hook}
        given = target_properties(args) | {k: v for k, v in hooks_named.items() if v is not None}
        props = parse(given, from_cloudformation=False)  # checked before any AWS call
        return check(console, _session(args), props, args.output, args.provider_stack)
    if args.command == "start":
        properties = start_properties(args)
        props = parse(properties, from_cloudformation=False)  # checked before any AWS call
        session = _session(args)
        machine = _state_machine(args, session)
        _require_target(session, props)
        sfn = session.client("stepfunctions")
        name = lookup.manual_name(props.cluster_name)
        arn = lookup.start(sfn, machine, name, drain_input(properties, props, clock.now(), name))
        console.print(f"Started {arn}")
        if args.watch:
            return display.watch(console, sfn, arn, args.interval, args.plain, args.output)
        display.emit(args.output, {"executionArn": arn})
        return 0
    session = _session(args)
    sfn = session.client("stepfunctions")
    # An execution named by its ARN needs no provider stack: --stack and --auto-scaling-group look it up.
    if args.execution_arn:
        arn = args.execution_arn
    elif args.auto_scaling_group:
        arn = lookup.find_hook_execution(sfn, _state_machine(args, session), args.auto_scaling_group)
    else:
        arn = lookup.find_execution(sfn, _state_machine(args, session), args.stack)
    return display.watch(console, sfn, arn, args.interval, args.plain, args.output)


def _session(args: argparse.Namespace) -> boto3.Session:
    return boto3.Session(profile_name=args.profile, region_name=region(args))


def _state_machine(args: argparse.Namespace, session: boto3.Session) -> str:
    return args.state_machine_arn or lookup.state_machine_arn(session.client("cloudformation"), args.provider_stack)


def check(console: Console, session: boto3.Session, props: DrainProperties, output: str, provider_stack: str) -> int:
    """The preflight's verdict for draining the target now; reads only. 0: it would finish, 1: it would not."""
    clients = _require_target(session, props)
    clients.budget.attach(clients.ecs)  # paced as the drain paces itself: other tools keep their share
    table = lookup.budget_table(session.client("cloudformation"), provider_stack)
    if table is not None:  # what the rollovers and drains in flight claim of the room is theirs
        clients = replace(clients, room=RoomBook(session.client("dynamodb"), table))
    verdict = preflight.assess(props, clients, clock.now())
    hook_problems = hooks.named_hooks(props, clients.autoscaling, clients.ecs)[1] if _names_hooks(props) else None
    display.verdict(console, props, verdict, hook_problems)
    display.emit(output, display.verdict_document(props, verdict, hook_problems))
    if verdict.unregistered:
        named = ", ".join(verdict.unregistered)
        print(f"ecs-drain check: warning: not registered in {props.cluster_name}: {named}", file=sys.stderr)
        if props.target_kind == "InstanceIds":  # ids given by hand: a typo, or the wrong cluster
            return TARGET_NOT_IN_CLUSTER
    return 0 if verdict.finishes and not hook_problems else 1


def _names_hooks(props: DrainProperties) -> bool:
    return props.termination_hook is not None or props.launch_hook is not None


def target_properties(args: argparse.Namespace) -> dict[str, Any]:
    given = {
        "Cluster": args.cluster,
        "SpotFleet": args.spot_fleet,
        "Fleet": args.fleet,
        "AutoScalingGroup": args.auto_scaling_group,
        "InstanceIds": [i for given in args.instance_ids for i in given] if args.instance_ids else None,
    }
    return {k: v for k, v in given.items() if v is not None}


def start_properties(args: argparse.Namespace) -> dict[str, Any]:
    """The same property names Custom::ECSDrain takes."""
    given = {
        **target_properties(args),
        "DrainTimeoutSeconds": args.timeout,
        "PollIntervalSeconds": args.poll,
        "OnTimeout": args.on_timeout,
        "StandaloneTasks": args.standalone_tasks,
        "BlockedTimeoutSeconds": args.blocked_timeout,
        "WaitForCapacity": False if args.no_wait_for_capacity else None,
    }
    return {k: v for k, v in given.items() if v is not None}


def _require_target(session: boto3.Session, props: Any) -> Clients:
    """A manual drain (or check) of nothing is a typo, not a success: the cluster and the target must exist."""
    ecs = session.client("ecs")
    clusters = ecs.describe_clusters(clusters=[props.cluster]).get("clusters", [])
    if not any(c.get("status") == "ACTIVE" for c in clusters):
        raise UsageError(f"cluster {props.cluster_name} does not exist in this account and Region (or is not ACTIVE).")
    clients = Clients(ecs=ecs, ec2=session.client("ec2"), autoscaling=session.client("autoscaling"))
    if props.target_kind != "InstanceIds" and lookup.target_instances(props, clients) is None:
        raise UsageError(f"{props.target_kind} {props.target[0]} does not exist in this account and Region.")
    return clients


def explain(error: Exception) -> str:
    """One line: what went wrong, and what to do."""
    if isinstance(error, NoRegionError):
        return "no AWS Region is set: give --region, or set AWS_REGION or a region in your profile."
    if isinstance(error, NoCredentialsError):
        return "no AWS credentials were found: give --profile, or set AWS_PROFILE or the AWS_* credential variables."
    if isinstance(error, ProfileNotFound):
        return f"{error}: give a profile from ~/.aws/config, or none."
    if isinstance(error, ClientError):
        info = error.response.get("Error", {})
        return f"AWS refused {error.operation_name}: {info.get('Code', '?')}: {info.get('Message', '')}".rstrip(": ")
    if isinstance(error, InvalidProperties):
        return f"{error} Nothing was started."
    return str(error)
