"""A group's hooks, at their edges: the hooks the properties name, read and judged (as Create and Update bind them,
and as `ecs-drain check` says); a batch's instances gathered, kept held while its drain runs, and their lifecycle
actions completed at its end."""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from ..aws import hook_bindings
from ..decisions.hook_rules import (
    LAUNCHING,
    TERMINATING,
    Hook,
    binding_problems,
    heartbeat_due,
    launch_binding_problems,
    lifecycle_result,
)
from ..decisions.properties import DrainProperties
from ..model.state import DrainState, GatheredInstances, LifecycleBatch, LifecycleCompletion
from ..runtime.observability import logger, metrics

if TYPE_CHECKING:
    from mypy_boto3_autoscaling import AutoScalingClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_ecs import ECSClient


def named_hooks(
    props: DrainProperties, autoscaling: AutoScalingClient, ecs: ECSClient
) -> tuple[list[tuple[str, Hook]], list[str]]:
    """The hooks TerminationHook and LaunchHook name, as the group has them (with the transition each is bound
    for), and every reason either cannot be bound (empty: both can)."""
    group, found, problems = props.target[0], [], []
    if props.termination_hook is not None:
        hook = hook_bindings.describe_hook(autoscaling, group, props.termination_hook)
        managed = hook_bindings.managed_draining(ecs, props.cluster, group) if hook is not None else []
        problems += binding_problems(props, hook, managed)
        found += [(TERMINATING, hook)] if hook is not None else []
    if props.launch_hook is not None:
        hook = hook_bindings.describe_hook(autoscaling, group, props.launch_hook)
        problems += launch_binding_problems(props, hook)
        found += [(LAUNCHING, hook)] if hook is not None else []
    return found, problems


def gather(dynamodb: DynamoDBClient, table: str, lifecycle: LifecycleBatch, now: float) -> GatheredInstances:
    """Seal the batch: its instances are this drain's; those that come later join the next batch's drain."""
    group, hook = lifecycle["AutoScalingGroupName"], lifecycle["LifecycleHookName"]
    ids = hook_bindings.seal_batch(dynamodb, table, group, hook, lifecycle["batch"], now)
    logger.info("Gathered the instances held together", extra={"instances": len(ids)})
    return {"instanceIds": ids}


def keep_held(autoscaling: AutoScalingClient, lifecycle: LifecycleBatch, drain: DrainState, now: float) -> DrainState:
    """Record a heartbeat for the batch's instances when one is due, so the hook holds them to the drain's end.
    Trouble is logged and tried again at the next check (half a heartbeat timeout leaves room for one)."""
    gathered = lifecycle.get("gathered")
    if (
        drain["over"]
        or gathered is None
        or not heartbeat_due(drain.get("heartbeatAt"), now, lifecycle["heartbeatSeconds"])
    ):
        return drain
    group, hook = lifecycle["AutoScalingGroupName"], lifecycle["LifecycleHookName"]
    try:
        gone = hook_bindings.record_heartbeats(autoscaling, group, hook, gathered["instanceIds"])
    except (ClientError, BotoCoreError) as error:
        logger.warning("The hook's heartbeat could not be recorded", extra={"error": repr(error)})
        metrics.add_metric(name="HeartbeatFailures", unit="Count", value=1)
        return drain
    if gone:
        logger.warning("Instances of the batch are no longer held by the hook", extra={"instances": gone})
    drain["heartbeatAt"] = now
    return drain


def complete_batch(
    autoscaling: AutoScalingClient,
    dynamodb: DynamoDBClient,
    table: str,
    lifecycle: LifecycleBatch,
    status: str,
    now: float,
) -> LifecycleCompletion:
    """Complete the batch's lifecycle actions as the drain ended (`status` SUCCESS: CONTINUE; else ABANDON). A batch
    never gathered (its drain failed before) is sealed here, so its instances are not left to the hook's timeout."""
    group, hook = lifecycle["AutoScalingGroupName"], lifecycle["LifecycleHookName"]
    gathered = lifecycle.get("gathered")
    ids = gathered["instanceIds"] if gathered is not None else None
    if ids is None:
        ids = hook_bindings.seal_batch(dynamodb, table, group, hook, lifecycle["batch"], now)
    result = lifecycle_result(status)
    held = hook_bindings.complete(autoscaling, group, hook, ids, result)
    hook_bindings.release(dynamodb, table, group, hook, ids)
    logger.info("Completed the lifecycle actions", extra={"result": result, "instances": len(ids), "held": held})
    return {"result": result, "instances": len(ids), "held": held}
