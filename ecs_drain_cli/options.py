"""The command line's options: every one with help; the global ones (AWS, --output, --debug) accepted anywhere on
the line, as the AWS CLI takes them; a mistyped option or command answered with the closest one."""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version
from itertools import pairwise
from typing import NoReturn

STATE_MACHINE_VARIABLE = "ECS_DRAIN_STATE_MACHINE_ARN"
_ENVIRONMENT = """
environment:
  AWS_PROFILE                  as for the AWS CLI (--profile overrides it)
  AWS_REGION, AWS_DEFAULT_REGION  as for the AWS CLI, in that order (--region overrides them)
  ECS_DRAIN_STATE_MACHINE_ARN  the drain state machine, instead of reading the provider stack's outputs
"""
_USAGE_EXIT = "  2  a usage, input or AWS error (nothing was started, nothing was changed)\n"
TARGET_NOT_IN_CLUSTER = 3
# Each command's own exit codes.
EXIT_CODES = {
    "ecs-drain": "exit status: (each command's in detail: ecs-drain COMMAND --help)\n"
    "  0  the drain ended well, was started, or would finish\n"
    "  1  the drain did not finish, or would be blocked; a preflight failed\n"
    + _USAGE_EXIT
    + f"  {TARGET_NOT_IN_CLUSTER}  check: an instance of --instance-ids is not registered in the cluster\n"
    + _ENVIRONMENT,
    "watch": "exit status:\n"
    "  0  the drain ended DRAINED, or there was nothing to drain; a preflight passed\n"
    "  1  the drain did not finish (deadline, blocked, failed, stopped); a preflight failed\n"
    + _USAGE_EXIT
    + _ENVIRONMENT,
    "start": "exit status:\n"
    "  0  the drain was started (with --watch: it ended DRAINED, or there was nothing to drain)\n"
    "  1  with --watch: the drain did not finish (deadline, blocked, failed, stopped)\n" + _USAGE_EXIT + _ENVIRONMENT,
    "check": "exit status:\n"
    "  0  a drain of the target would finish (and the hooks named could be bound)\n"
    "  1  a drain of the target would be blocked (the findings say why), or a hook named could not be bound\n"
    + _USAGE_EXIT
    + f"  {TARGET_NOT_IN_CLUSTER}  an instance of --instance-ids is not registered in the cluster (a typo?): the others"
    " were checked\n" + _ENVIRONMENT,
}
_STATES_ARN = r"arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:"
_NAME = r"[A-Za-z0-9_.-]{1,80}"
_EC2_ID = re.compile(r"i-(?:[0-9a-f]{8}|[0-9a-f]{17})")


class UsageExit(SystemExit):
    """A usage error, said in one line on stderr; exit status 2."""

    def __init__(self, line: str) -> None:
        super().__init__(2)
        self.line = line


class OneLineParser(argparse.ArgumentParser):
    """A usage error in one line, naming the option (and the closest one, for a typo), with where to read more."""

    def error(self, message: str) -> NoReturn:
        chosen = re.search(r"invalid choice: '([^']*)' \(choose from ([^)]*)\)", message)
        if chosen:
            choices = re.findall(r"[\w-]+", chosen.group(2))
            message += _suggestion(chosen.group(1), choices)
        fail(f"{self.prog}: {message} (see {self.prog} --help)")


def fail(line: str) -> NoReturn:
    print(line, file=sys.stderr)
    raise UsageExit(line)


def usage_document(line: str) -> str:
    """A usage error as --output json puts it on stdout."""
    return json.dumps({"error": line, "exitStatus": 2})


def wants_json(argv: Sequence[str]) -> bool:
    """--output json anywhere on the line (read before parsing, so that a parsing error is a document too)."""
    return any(a == "--output=json" or (a == "--output" and b == "json") for a, b in pairwise([*argv, ""]))


def _suggestion(given: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(given, known, n=1, cutoff=0.6)
    return f"; did you mean {close[0]}?" if close else ""


def unknown_options(root: argparse.ArgumentParser, argv: Sequence[str]) -> str | None:
    """The first option no command knows, with the closest one: checked before parsing, since argparse would
    first complain that a required option (the one mistyped) is missing."""
    known = {o for p in _parsers(root) for a in p._actions for o in a.option_strings}
    for word in argv:
        if word == "--":
            break
        name = word.split("=", 1)[0]
        if name.startswith("--") and name not in known:
            return f"unknown option {name}" + _suggestion(name, sorted(known))
    return None


def _parsers(root: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    commands = [a for a in root._actions if isinstance(a, argparse._SubParsersAction)]
    return [root, *(p for c in commands for p in c.choices.values())]


def _matching(what: str, pattern: str) -> Callable[[str], str]:
    compiled = re.compile(pattern)

    def checked(value: str) -> str:
        if not compiled.fullmatch(value):
            raise argparse.ArgumentTypeError(f"not {what}: {value!r}")
        return value

    checked.__name__ = what  # argparse names the type in its message
    return checked


execution_arn = _matching("a Step Functions execution ARN", _STATES_ARN + "execution:" + _NAME + ":" + _NAME)
state_machine_arn = _matching("a Step Functions state machine ARN", _STATES_ARN + "stateMachine:" + _NAME)


def instance_ids(value: str) -> list[str]:
    """One or more EC2 instance ids: space-separated as the AWS CLI takes them, commas accepted too."""
    ids = [i for i in value.replace(",", " ").split() if i]
    wrong = [i for i in ids if not _EC2_ID.fullmatch(i)]
    if wrong or not ids:
        raise argparse.ArgumentTypeError(
            f"not an EC2 instance id (i- and 8 or 17 hexadecimal digits): {wrong or value!r}"
        )
    return ids


def seconds(value: str) -> float:
    """A positive number of seconds."""
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {value!r}") from None
    if not number > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds: {value!r}")
    return number


def whole_seconds(value: str) -> int:
    """A whole number of seconds, 0 or more (the property's own range is checked with the properties)."""
    try:
        number = int(value.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number of seconds (like 600), not {value!r}") from None
    if number < 0:
        raise argparse.ArgumentTypeError(f"must be 0 seconds or more, not {value}")
    return number


def _version() -> str:
    try:
        return version("ecs-drain")
    except PackageNotFoundError:  # run from a work tree that was not installed
        return "unknown"


def _global_options(parser: argparse.ArgumentParser, *, defaults: bool) -> None:
    """Given to the root and to every command, so they go anywhere on the line; after the command, a value given
    there wins."""

    def default(value: object) -> object:
        return value if defaults else argparse.SUPPRESS

    parser.add_argument("--profile", default=default(None), help="AWS profile to use (default: AWS_PROFILE, as boto3)")
    parser.add_argument(
        "--region",
        default=default(None),
        help="AWS Region (default: AWS_REGION, AWS_DEFAULT_REGION, or the profile's)",
    )
    parser.add_argument(
        "--provider-stack",
        default=default("ecs-drain"),
        help="the stack that deployed ecs-drain, whose outputs name the state machine (default: ecs-drain)",
    )
    parser.add_argument(
        "--state-machine-arn",
        type=state_machine_arn,
        default=default(os.environ.get(STATE_MACHINE_VARIABLE)),
        help=f"the drain state machine, instead of the provider stack's outputs (default: ${STATE_MACHINE_VARIABLE})",
    )
    parser.add_argument(
        "--debug", action="store_true", default=default(False), help="on an error, show the Python traceback"
    )
    parser.add_argument(
        "--output",
        choices=("text", "json"),
        default=default("text"),
        help="text for people (default), or json: one JSON document on stdout when the command ends (an error too: "
        '{"error": ..., "exitStatus": 2}), for scripts',
    )


def _follow_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--interval", type=seconds, default=5.0, help="seconds between refreshes (default: 5)")
    parser.add_argument("--plain", action="store_true", help="print a line per change instead of a live table")


def _target_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cluster", required=True, help="the ECS cluster (name or ARN) the instances are in")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--spot-fleet", help="a Spot Fleet request id (sfr-...)")
    target.add_argument("--fleet", help="an EC2 Fleet id (fleet-...)")
    target.add_argument("--auto-scaling-group", help="an Auto Scaling group name or ARN")
    target.add_argument(
        "--instance-ids",
        type=instance_ids,
        nargs="+",
        help="EC2 instance ids (i-...), space- or comma-separated, at most 1000",
    )


def parser() -> argparse.ArgumentParser:
    root = OneLineParser(
        prog="ecs-drain",
        description="Follow a drain of ECS container instances live, or drain a target by hand, through the "
        "state machine the ecs-drain provider stack deployed; or check, reading only, whether a drain of a target "
        "would finish.",
        epilog=EXIT_CODES["ecs-drain"],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    root.add_argument("--version", action="version", version=f"ecs-drain {_version()}")
    _global_options(root, defaults=True)
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    raw = argparse.RawDescriptionHelpFormatter

    watch = commands.add_parser(
        "watch", help="follow a drain until it ends", epilog=EXIT_CODES["watch"], formatter_class=raw
    )
    which = watch.add_mutually_exclusive_group(required=True)
    which.add_argument("--stack", help="the consumer stack (its exact name) whose Custom::ECSDrain is draining")
    which.add_argument("--execution-arn", type=execution_arn, help="the drain's Step Functions execution")
    which.add_argument(
        "--auto-scaling-group",
        help="the group (its name) whose hook's instances are being drained (TerminationHook) or checked (LaunchHook)",
    )
    _follow_options(watch)
    _global_options(watch, defaults=False)

    start = commands.add_parser(
        "start",
        help="drain a target by hand, without CloudFormation",
        description="Drain a target by hand: the same properties and checks as Custom::ECSDrain, validated before "
        "anything starts.",
        epilog=EXIT_CODES["start"],
        formatter_class=raw,
    )
    _target_options(start)
    start.add_argument(
        "--timeout",
        type=whole_seconds,
        help="DrainTimeoutSeconds: the deadline (default: what one execution holds, 1,846 polls: 7.7 h at 15 s)",
    )
    start.add_argument(
        "--poll", type=whole_seconds, help="PollIntervalSeconds: time between checks, 5 to 300 (default: 15)"
    )
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
        type=whole_seconds,
        help="BlockedTimeoutSeconds: end early once blocked this long by a cause ECS cannot resolve (default: none)",
    )
    start.add_argument(
        "--no-wait-for-capacity",
        action="store_true",
        help="WaitForCapacity false: set DRAINING at once, without waiting for room elsewhere",
    )
    start.add_argument("--watch", action="store_true", help="then follow the drain until it ends")
    _follow_options(start)
    _global_options(start, defaults=False)

    check = commands.add_parser(
        "check",
        help="would a drain of this target finish now? (reads only)",
        description="The preflight's verdict for draining a target now: whether any service's deployment "
        "configuration would block it, and whether every other ACTIVE instance can take the target's service tasks, "
        "task by task, by every rule ECS places by. Changes nothing in the account.",
        epilog=EXIT_CODES["check"],
        formatter_class=raw,
    )
    _target_options(check)
    check.add_argument(
        "--termination-hook",
        help="with --auto-scaling-group: would the Custom::ECSDrain's TerminationHook of this name bind?",
    )
    check.add_argument(
        "--launch-hook", help="with --auto-scaling-group: would the Custom::ECSDrain's LaunchHook of this name bind?"
    )
    _global_options(check, defaults=False)
    return root
