"""Auto Scaling's lifecycle hooks and what the provider keeps of them in the watch table.

- The binding: a Custom::ECSDrain with TerminationHook or LaunchHook records, per group and hook, its transition
  and the properties as given (`binding#<group>#<hook>`); the LifecycleHookFunction finds it there for each event.
- The intake: the instances the hook holds join the open batch of their group and hook
  (`lifecycle#<group>#<hook>#<n>`, a string set); the drain (or launch check) started for the batch seals it after
  GATHER_SECONDS and drains (or checks) what it holds; an event that finds the batch sealed opens the next one
  (`lifecycle#<group>#<hook>`: which is open). Each action is taken once (`lifecycle-action#<token>`): EventBridge
  may deliver an event twice.
- The bound hooks, listed (`bindings`), for the reads that find held instances whose event was lost: each held
  instance is taken once per group and hook (`lifecycle-instance#<group>#<hook>#<instance>`), by its event or by a
  read.
- ECS managed instance draining on the same group (which would drain the same instances on a hook of its own).
- The calls on the group: DescribeLifecycleHooks, DescribeAutoScalingGroups, RecordLifecycleActionHeartbeat,
  CompleteLifecycleAction.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from ..decisions.hook_rules import HELD_STATES, TERMINATING, Hook
from ..runtime.observability import logger
from .errors import error_code

if TYPE_CHECKING:
    from mypy_boto3_autoscaling import AutoScalingClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_ecs import ECSClient

# Kept two days past their last change (a hook holds an instance 48 hours at most); TTL removes them.
KEEP_SECONDS = 2 * 24 * 3600
# A binding whose resource was deleted still serves the group's last terminations (CloudFormation deletes the group
# after the resource that names it) for this long.
ENDED_BINDING_SECONDS = 2 * 3600
OPEN_BATCH_TRIES = 10
GROUPS_PER_DESCRIBE = 50
PROVIDERS_PER_DESCRIBE = 100  # DescribeCapacityProviders names at most this many
BATCH_WRITE_LIMIT = 25  # BatchWriteItem's maximum  # DescribeAutoScalingGroups names at most this many groups a call
BINDINGS_KEY = {"key": {"S": "bindings"}}
CONDITION_FAILED = "ConditionalCheckFailedException"


@dataclass(frozen=True)
class Binding:
    """A group's termination or launch hook, bound to a cluster by a Custom::ECSDrain: its properties as given."""

    group: str
    hook: str
    properties: dict[str, Any]
    heartbeat_seconds: int
    transition: str = TERMINATING

    @property
    def held_state(self) -> str:
        """The LifecycleState the hook holds its instances in."""
        return HELD_STATES[self.transition]


def describe_hook(autoscaling: AutoScalingClient, group: str, hook: str) -> Hook | None:
    """The hook as the group has it; None where the group has no hook of that name (or no such group)."""
    try:
        found = autoscaling.describe_lifecycle_hooks(AutoScalingGroupName=group, LifecycleHookNames=[hook])
    except ClientError as error:
        if error_code(error) == "ValidationError":
            return None  # the group does not exist
        raise
    for item in found.get("LifecycleHooks", []):
        if item.get("LifecycleHookName") == hook:
            return Hook(
                hook,
                item.get("LifecycleTransition", ""),
                int(item.get("HeartbeatTimeout", 3600)),
                item.get("DefaultResult", "ABANDON"),
            )
    return None


def managed_draining(ecs: ECSClient, cluster: str, group: str) -> list[str]:
    """The cluster's capacity providers on the group whose ECS managed instance draining is on (on when the field is
    absent: it is on by default for new capacity providers)."""
    clusters = ecs.describe_clusters(clusters=[cluster]).get("clusters", [])
    names = clusters[0].get("capacityProviders", []) if clusters else []
    found = []
    for start in range(0, len(names), PROVIDERS_PER_DESCRIBE):
        described = ecs.describe_capacity_providers(capacityProviders=names[start : start + PROVIDERS_PER_DESCRIBE])
        for provider in described.get("capacityProviders", []):
            on_group = provider.get("autoScalingGroupProvider", {})
            arn = on_group.get("autoScalingGroupArn", "")
            if (
                arn.rsplit("autoScalingGroupName/", 1)[-1] == group
                and on_group.get("managedDraining", "ENABLED") == "ENABLED"
            ):
                found.append(provider.get("name", ""))
    return found


def _binding_key(group: str, hook: str) -> dict[str, Any]:
    return {"key": {"S": f"binding#{group}#{hook}"}}


def bind(dynamodb: DynamoDBClient, table: str, binding: Binding, now: float) -> None:
    """Record (or replace) the binding; it lasts until the resource is deleted."""
    item = _binding_key(binding.group, binding.hook) | {
        "properties": {"S": json.dumps(binding.properties, sort_keys=True)},
        "heartbeatSeconds": {"N": str(binding.heartbeat_seconds)},
        "transition": {"S": binding.transition},
        "boundAt": {"N": str(now)},
    }
    dynamodb.put_item(TableName=table, Item=item)
    dynamodb.update_item(
        TableName=table,
        Key=BINDINGS_KEY,
        UpdateExpression="ADD hooks :one",
        ExpressionAttributeValues={":one": {"SS": [_bound_name(binding.group, binding.hook)]}},
    )


def _bound_name(group: str, hook: str) -> str:
    return json.dumps([group, hook])


def bound_hooks(dynamodb: DynamoDBClient, table: str) -> list[tuple[str, str]]:
    """Every group and hook ever bound and not yet let go for good (a binding read as ended is forgotten here)."""
    item = dynamodb.get_item(TableName=table, Key=BINDINGS_KEY, ConsistentRead=True).get("Item") or {}
    pairs = (json.loads(name) for name in item.get("hooks", {}).get("SS", []))
    return sorted((str(group), str(hook)) for group, hook in pairs)


def forget_bound(dynamodb: DynamoDBClient, table: str, group: str, hook: str) -> None:
    dynamodb.update_item(
        TableName=table,
        Key=BINDINGS_KEY,
        UpdateExpression="DELETE hooks :one",
        ExpressionAttributeValues={":one": {"SS": [_bound_name(group, hook)]}},
    )


def held_instances(autoscaling: AutoScalingClient, groups: Sequence[str]) -> dict[str, dict[str, list[str]]]:
    """Each group's instances in a Wait state, by state: Terminating:Wait, Pending:Wait (a missing group: none)."""
    held: dict[str, dict[str, list[str]]] = {group: {} for group in groups}
    names = sorted(set(groups))
    for start in range(0, len(names), GROUPS_PER_DESCRIBE):
        pages = autoscaling.get_paginator("describe_auto_scaling_groups").paginate(
            AutoScalingGroupNames=names[start : start + GROUPS_PER_DESCRIBE]
        )
        for page in pages:
            for group in page.get("AutoScalingGroups", []):
                waiting = held[group["AutoScalingGroupName"]]
                for instance in group.get("Instances", []):
                    if instance.get("LifecycleState") in HELD_STATES.values():
                        waiting.setdefault(instance["LifecycleState"], []).append(instance["InstanceId"])
    return held


def end_binding(dynamodb: DynamoDBClient, table: str, group: str, hook: str, now: float) -> None:
    """The resource was deleted: the binding serves ENDED_BINDING_SECONDS more, then TTL removes it."""
    try:
        dynamodb.update_item(
            TableName=table,
            Key=_binding_key(group, hook),
            UpdateExpression="SET expiresAt = :at",
            ConditionExpression="attribute_exists(#k)",
            ExpressionAttributeNames={"#k": "key"},
            ExpressionAttributeValues={":at": {"N": str(int(now + ENDED_BINDING_SECONDS))}},
        )
    except ClientError as error:
        if error_code(error) != CONDITION_FAILED:
            raise


def binding_of(dynamodb: DynamoDBClient, table: str, group: str, hook: str, now: float) -> Binding | None:
    """The binding of the group's hook; None where there is none, or it has ended (TTL removes items late)."""
    item = dynamodb.get_item(TableName=table, Key=_binding_key(group, hook), ConsistentRead=True).get("Item")
    if item is None or float(item.get("expiresAt", {}).get("N", "inf")) <= now:
        return None
    transition = item.get("transition", {}).get("S", TERMINATING)  # bindings of an earlier version: termination
    return Binding(group, hook, json.loads(item["properties"]["S"]), int(item["heartbeatSeconds"]["N"]), transition)


def _taken_keys(binding: Binding, instance_id: str, token: str | None) -> list[dict[str, Any]]:
    keys = [{"key": {"S": f"lifecycle-instance#{binding.group}#{binding.hook}#{instance_id}"}}]
    return keys + ([{"key": {"S": f"lifecycle-action#{token}"}}] if token else [])


def taken(dynamodb: DynamoDBClient, table: str, binding: Binding, instance_id: str, token: str | None) -> bool:
    """Whether the instance's action was taken already: its event came before (EventBridge delivers at least once),
    or a read found it held, or its event came after such a read."""
    for key in _taken_keys(binding, instance_id, token):
        if "Item" in dynamodb.get_item(TableName=table, Key=key, ConsistentRead=True):
            return True
    return False


def take(
    dynamodb: DynamoDBClient, table: str, binding: Binding, instance_id: str, token: str | None, now: float
) -> None:
    """The instance's action is taken: it is in a batch whose drain runs. (Written last: a delivery that fails
    before it is retried whole, and joining a batch and starting its drain are idempotent.)"""
    for key in _taken_keys(binding, instance_id, token):
        dynamodb.put_item(TableName=table, Item=key | {"expiresAt": {"N": str(int(now + KEEP_SECONDS))}})


def release(dynamodb: DynamoDBClient, table: str, group: str, hook: str, instance_ids: Sequence[str]) -> None:
    """The instances' actions are completed: an instance held again later (its root volume replaced, back from a
    warm pool) is a new action, to be taken again. (A copy of an old event stays known by its token.)"""
    keys = [{"key": {"S": f"lifecycle-instance#{group}#{hook}#{i}"}} for i in instance_ids]
    for start in range(0, len(keys), BATCH_WRITE_LIMIT):
        requests: list[Any] = [{"DeleteRequest": {"Key": key}} for key in keys[start : start + BATCH_WRITE_LIMIT]]
        unprocessed = dynamodb.batch_write_item(RequestItems={table: requests}).get("UnprocessedItems") or {}
        if unprocessed:  # taken for two days at most: the next hold of such an instance waits for a read
            logger.warning("Some instances could not be released", extra={"left": len(unprocessed.get(table, []))})


@dataclass(frozen=True)
class Batch:
    """The batch an instance joined: its number, and when its first instance came (its drain's RequestedAt)."""

    number: int
    opened_at: float


def join_batch(dynamodb: DynamoDBClient, table: str, binding: Binding, instance_id: str, now: float) -> Batch:
    """Add the instance to the open batch of its group and hook; where that batch is sealed, open the next."""
    head = f"lifecycle#{binding.group}#{binding.hook}"
    for _ in range(OPEN_BATCH_TRIES):
        item = dynamodb.get_item(TableName=table, Key={"key": {"S": head}}, ConsistentRead=True).get("Item") or {}
        number = int(item.get("open", {}).get("N", "1"))
        try:
            joined = dynamodb.update_item(
                TableName=table,
                Key={"key": {"S": f"{head}#{number}"}},
                UpdateExpression="ADD instances :one SET openedAt = if_not_exists(openedAt, :now), expiresAt = :exp",
                ConditionExpression="attribute_not_exists(sealed)",
                ExpressionAttributeValues={
                    ":one": {"SS": [instance_id]},
                    ":now": {"N": str(now)},
                    ":exp": {"N": str(int(now + KEEP_SECONDS))},
                },
                ReturnValues="ALL_NEW",
            )
            return Batch(number, float(joined["Attributes"]["openedAt"]["N"]))
        except ClientError as error:
            if error_code(error) != CONDITION_FAILED:
                raise
        _open_next(dynamodb, table, head, number, now)
    raise RuntimeError(f"Could not join a batch of {head} in {OPEN_BATCH_TRIES} tries")


def _open_next(dynamodb: DynamoDBClient, table: str, head: str, sealed: int, now: float) -> None:
    """Batch `sealed` is sealed: the next one opens (unless another event or the drain opened it already)."""
    try:
        dynamodb.update_item(
            TableName=table,
            Key={"key": {"S": head}},
            UpdateExpression="SET #open = :next, expiresAt = :exp",
            ConditionExpression="attribute_not_exists(#open) OR #open = :sealed",
            ExpressionAttributeNames={"#open": "open"},
            ExpressionAttributeValues={
                ":next": {"N": str(sealed + 1)},
                ":sealed": {"N": str(sealed)},
                ":exp": {"N": str(int(now + KEEP_SECONDS))},
            },
        )
    except ClientError as error:
        if error_code(error) != CONDITION_FAILED:
            raise


def seal_batch(dynamodb: DynamoDBClient, table: str, group: str, hook: str, number: int, now: float) -> list[str]:
    """Seal the batch (no instance joins it from now on) and open the next: the instances it holds, sorted."""
    head = f"lifecycle#{group}#{hook}"
    sealed = dynamodb.update_item(
        TableName=table,
        Key={"key": {"S": f"{head}#{number}"}},
        UpdateExpression="SET sealed = :yes",
        ExpressionAttributeValues={":yes": {"BOOL": True}},
        ReturnValues="ALL_NEW",
    )
    _open_next(dynamodb, table, head, number, now)
    return sorted(sealed["Attributes"].get("instances", {}).get("SS", []))


def record_heartbeats(autoscaling: AutoScalingClient, group: str, hook: str, instance_ids: Sequence[str]) -> int:
    """Restart the hook's heartbeat timer for each instance; how many are no longer held (their action ended)."""
    return sum(1 for i in instance_ids if not _on_action(autoscaling.record_lifecycle_action_heartbeat, group, hook, i))


def complete(autoscaling: AutoScalingClient, group: str, hook: str, instance_ids: Sequence[str], result: str) -> int:
    """CompleteLifecycleAction with `result` for each instance; how many were held still (the others' actions had
    ended: completed by someone else, timed out, or the instance terminated outside the group)."""
    call = autoscaling.complete_lifecycle_action
    return sum(1 for i in instance_ids if _on_action(call, group, hook, i, LifecycleActionResult=result))


def _on_action(call: Any, group: str, hook: str, instance_id: str, **extra: str) -> bool:
    """One call on the instance's lifecycle action: False where Auto Scaling has no such action any longer."""
    try:
        call(AutoScalingGroupName=group, LifecycleHookName=hook, InstanceId=instance_id, **extra)
    except ClientError as error:
        if error_code(error) != "ValidationError":
            raise
        logger.info("No lifecycle action holds the instance any longer", extra={"instance": instance_id})
        return False
    return True


def properties_for_drain(binding: Binding, seconds: int) -> Mapping[str, Any]:
    """The properties a batch's drain runs with: the binding's, its deadline the hook's (InstanceIds come from the
    batch)."""
    return _batch_properties(binding) | {"DrainTimeoutSeconds": seconds}


def properties_for_check(binding: Binding) -> Mapping[str, Any]:
    """The properties a launch hook's check runs with: the binding's (InstanceIds come from the batch)."""
    return _batch_properties(binding)


def _batch_properties(binding: Binding) -> dict[str, Any]:
    return {
        k: v for k, v in binding.properties.items() if k not in ("AutoScalingGroup", "TerminationHook", "LaunchHook")
    }
