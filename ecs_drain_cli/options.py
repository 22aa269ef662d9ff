"""The command line's options: every one with help, the AWS ones accepted before or after the command."""

from __future__ import annotations

import argparse
import os
from importlib.metadata import PackageNotFoundError, version

STATE_MACHINE_VARIABLE = "ECS_DRAIN_STATE_MACHINE_ARN"

EXIT_CODES = """exit status:
  0  the drain ended DRAINED, or there was nothing to drain (check: a drain would finish)
  1  the drain did not finish (deadline, blocked, failed, stopped) (check: a drain would be blocked)
  2  a usage, input or AWS error (nothing was started)

environment:
  AWS_PROFILE, AWS_REGION    as for the AWS CLI (--profile and --region override them)
  ECS_DRAIN_STATE_MACHINE_ARN   the drain state machine, instead of reading the provider stack's outputs
"""


def _version() -> str:
    try:
        return version("ecs-drain")
    except PackageNotFoundError:  # run from a work tree that was not installed
        return "unknown"


def _aws_options(parser: argparse.ArgumentParser, *, defaults: bool) -> None:
    """Given to the root and to every command; after the command, a value given there wins."""

    def default(value: object) -> object:
        return value if defaults else argparse.SUPPRESS

    parser.add_argument("--profile", default=default(None), help="AWS profile to use (default: AWS_PROFILE, as boto3)")
    parser.add_argument("--region", default=default(None), help="AWS Region (default: AWS_REGION or the profile's)")
    parser.add_argument(
        "--provider-stack",
        default=default("ecs-drain"),
        help="the stack that deployed ecs-drain, whose outputs name the state machine (default: ecs-drain)",
    )
    parser.add_argument(
        "--state-machine-arn",
        default=default(os.environ.get(STATE_MACHINE_VARIABLE)),
        help=f"the drain state machine, instead of the provider stack's outputs (default: ${STATE_MACHINE_VARIABLE})",
    )
    parser.add_argument(
        "--debug", action="store_true", default=default(False), help="on an error, show the Python traceback"
    )


def _follow_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between refreshes (default: 5)")
    parser.add_argument("--plain", action="store_true", help="print a line per change instead of a live table")


def _target_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cluster", required=True, help="the ECS cluster (name or ARN) the instances are in")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--spot-fleet", help="a Spot Fleet request id (sfr-...)")
    target.add_argument("--fleet", help="an EC2 Fleet id (fleet-...)")
    target.add_argument("--auto-scaling-group", help="an Auto Scaling group name or ARN")
    target.add_argument("--instance-ids", help="comma-separated EC2 instance ids (i-...), at most 1000")


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="ecs-drain",
        description="Follow a drain of ECS container instances live, or drain a target by hand, through the "
        "state machine the ecs-drain provider stack deployed; or check, reading only, whether a drain of a target "
        "would finish.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    root.add_argument("--version", action="version", version=f"ecs-drain {_version()}")
    _aws_options(root, defaults=True)
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    raw = argparse.RawDescriptionHelpFormatter

    watch = commands.add_parser("watch", help="follow a drain until it ends", epilog=EXIT_CODES, formatter_class=raw)
    which = watch.add_mutually_exclusive_group(required=True)
    which.add_argument("--stack", help="the consumer stack (its exact name) whose Custom::ECSDrain is draining")
    which.add_argument("--execution-arn", help="the drain's Step Functions execution")
    _follow_options(watch)
    _aws_options(watch, defaults=False)

    start = commands.add_parser(
        "start",
        help="drain a target by hand, without CloudFormation",
        description="Drain a target by hand: the same properties and checks as Custom::ECSDrain, validated before "
        "anything starts.",
        epilog=EXIT_CODES,
        formatter_class=raw,
    )
    _target_options(start)
    start.add_argument("--timeout", type=int, help="DrainTimeoutSeconds: the deadline (default: none)")
    start.add_argument("--poll", type=int, help="PollIntervalSeconds: time between checks, 5 to 300 (default: 15)")
    start.add_argument(
        "--on-timeout", choices=("CONTINUE", "FAIL"), help="OnTimeout: the outcome at the deadline (default: CONTINUE)"
    )
    start.add_argument(
        "--standalone-tasks",
        choices=("WAIT", "STOP"),
        help="StandaloneTasks: wait for tasks of no service, or stop them (default: WAIT)",
    )
    start.add_argument(
        "--blocked-timeout",
        type=int,
        help="BlockedTimeoutSeconds: end early once blocked this long by a cause ECS cannot resolve (default: none)",
    )
    start.add_argument(
        "--no-wait-for-capacity",
        action="store_true",
        help="WaitForCapacity false: set DRAINING at once, without waiting for room elsewhere",
    )
    start.add_argument("--watch", action="store_true", help="then follow the drain until it ends")
    _follow_options(start)
    _aws_options(start, defaults=False)

    check = commands.add_parser(
        "check",
        help="would a drain of this target finish now? (reads only)",
        description="The preflight's verdict for draining a target now: whether any service's deployment "
        "configuration would block it, and whether every other ACTIVE instance can take the target's service tasks, "
        "task by task (CPU, memory, static host ports, distinctInstance, memberOf). Changes nothing in the account.",
        epilog=EXIT_CODES,
        formatter_class=raw,
    )
    _target_options(check)
    _aws_options(check, defaults=False)
    return root
