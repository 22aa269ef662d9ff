"""AWS clients for the handlers: built on first use, once per Lambda container, never at import time."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from . import instance_types
from .budget import CallBudget
from .errors import error_code
from .room_claims import RoomBook
from .sweeps import SharedSweeps

if TYPE_CHECKING:
    from mypy_boto3_autoscaling import AutoScalingClient
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ecs import ECSClient
    from mypy_boto3_elbv2 import ElasticLoadBalancingv2Client
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_ssm import SSMClient
    from mypy_boto3_stepfunctions import SFNClient

# Throttling is retried here first, with backoff; what outlasts it is retried by the state machine.
CONFIG = Config(retries={"mode": "standard", "max_attempts": 8}, connect_timeout=5, read_timeout=30)
# The call budget's bookings are small and frequent: they fail fast (BudgetUnavailable) rather than hold a step.
BUDGET_CONFIG = Config(retries={"mode": "standard", "max_attempts": 4}, connect_timeout=2, read_timeout=5)
THROTTLING_CODES = {"ThrottlingException", "Throttling", "RequestLimitExceeded", "TooManyRequestsException"}


@dataclass(frozen=True)
class Clients:
    """The AWS clients the drain uses, built once per Lambda container and passed in."""

    ecs: ECSClient
    ec2: EC2Client
    autoscaling: AutoScalingClient
    budget: CallBudget = field(default_factory=CallBudget)  # paces every call of `ecs`
    elbv2: ElasticLoadBalancingv2Client | None = None  # the preflight's reading of deregistration delays
    cloudformation: CloudFormationClient | None = None  # the other providers' schedules (their exports)
    sweeps: SharedSweeps | None = None  # the cluster sweeps the provider stack's drains share
    room: RoomBook | None = None  # the claims on the clusters' room every drain of the account reads


class AwsThrottled(Exception):
    """AWS kept throttling after the SDK's retries; the state machine retries the step later."""


def is_throttling(error: ClientError) -> bool:
    return error_code(error) in THROTTLING_CODES


# A Lambda container runs one invocation at a time, and the drain's budget holds that step's allowance and the slots
# it booked: where invocations run side by side in one process (the emulation's threads, each a container), each
# thread keeps its own. `_generation` moves on at reset, so every thread builds anew.
_container = threading.local()
_generation = 0


def drain_clients() -> Clients:
    """The drain's clients, built once per Lambda container (here: per thread)."""
    held: tuple[int, Clients] | None = getattr(_container, "clients", None)
    if held is None or held[0] != _generation:
        held = (_generation, _new_drain_clients())
        _container.clients = held
    return held[1]


def _new_drain_clients() -> Clients:
    ecs = boto3.client("ecs", config=CONFIG)
    budget = CallBudget.from_environment(dynamodb_client())
    budget.attach(ecs)
    return Clients(
        ecs=ecs,
        ec2=boto3.client("ec2", config=CONFIG),
        autoscaling=boto3.client("autoscaling", config=CONFIG),
        budget=budget,
        elbv2=boto3.client("elbv2", config=CONFIG),
        cloudformation=cloudformation_client(),
        sweeps=SharedSweeps.from_environment(dynamodb_client()),
        room=RoomBook.from_environment(dynamodb_client()),
    )


@cache
def ecs_client() -> ECSClient:
    """An ECS client outside the drain's budget: the custom resource's one DescribeClusters per Create or Update."""
    return boto3.client("ecs", config=CONFIG)


@cache
def cloudformation_client() -> CloudFormationClient:
    """The custom resource's reading of the stack behind a request (its status; whether a target stays)."""
    return boto3.client("cloudformation", config=CONFIG)


@cache
def dynamodb_client() -> DynamoDBClient:
    return boto3.client("dynamodb", config=BUDGET_CONFIG)


@cache
def events_client() -> EventBridgeClient:
    """The task-stopped rule, switched on while drains watch tasks and off when none runs."""
    return boto3.client("events", config=BUDGET_CONFIG)


@cache
def autoscaling_client() -> AutoScalingClient:
    """The custom resource's look at a group's hooks; the answer's CompleteLifecycleAction."""
    return boto3.client("autoscaling", config=CONFIG)


@cache
def ssm_client() -> SSMClient:
    return boto3.client("ssm", config=CONFIG)


@cache
def sfn_client() -> SFNClient:
    return boto3.client("stepfunctions", config=CONFIG)


def reset() -> None:
    """Forget the clients (the emulation starts a fresh AWS for each run)."""
    global _generation  # every thread's drain clients are built anew
    _generation += 1
    for factory in (ecs_client, cloudformation_client, dynamodb_client, events_client, ssm_client, sfn_client,
                    autoscaling_client):  # fmt: skip
        factory.cache_clear()
    instance_types.forget()
