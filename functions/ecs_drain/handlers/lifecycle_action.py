"""The LifecycleHookFunction: Auto Scaling holds an instance on a termination hook a Custom::ECSDrain bound; the
instance joins its group's open batch, and the batch's drain starts (once for the batch, however many events)."""

from __future__ import annotations

from typing import Any

from ..aws import executions, hook_bindings
from ..aws.clients import dynamodb_client, sfn_client
from ..decisions.hook_rules import GATHER_SECONDS, TERMINATING, hook_drain_seconds
from ..decisions.properties import parse
from ..model.events import LifecycleAction
from ..model.state import LifecycleBatch
from ..runtime import clock
from ..runtime.environment import STATE_MACHINE, WATCH_TABLE, Environment, required
from ..runtime.observability import log_metrics, logger, metrics, tracer


@logger.inject_lambda_context(clear_state=True)
@log_metrics
@tracer.capture_lambda_handler
def handler(event: LifecycleAction, context: Any) -> dict[str, Any] | None:  # noqa: ARG001
    """The drain the instance joined ({"executionArn": ...}); None where its hook is not bound, or the event is a
    copy of one taken already."""
    detail = event.get("detail") or {}
    group, hook = detail.get("AutoScalingGroupName", ""), detail.get("LifecycleHookName", "")
    instance = detail.get("EC2InstanceId", "")
    logger.append_keys(group=group, hook=hook, instance=instance, action=detail.get("Action"))
    if detail.get("LifecycleTransition") != TERMINATING or not (group and hook and instance):
        logger.info("Not a termination hook's action: nothing to drain")
        return None
    env, dynamodb, now = Environment.read(), dynamodb_client(), clock.now()
    table = required(env.watch_table, WATCH_TABLE)
    binding = hook_bindings.binding_of(dynamodb, table, group, hook, now)
    if binding is None:
        logger.info("No Custom::ECSDrain binds this hook: nothing to drain")
        return None
    token = detail.get("LifecycleActionToken") or f"{group}#{hook}#{instance}"
    if hook_bindings.taken(dynamodb, table, token):
        logger.info("A copy of an event taken already")
        return None
    batch = hook_bindings.join_batch(dynamodb, table, binding, instance, now)
    name = executions.hook_execution_name(group, hook, batch.number)
    seconds = hook_drain_seconds(parse(binding.properties), binding.heartbeat_seconds)
    lifecycle: LifecycleBatch = {
        "AutoScalingGroupName": group,
        "LifecycleHookName": hook,
        "batch": batch.number,
        "gatherSeconds": GATHER_SECONDS,
        "heartbeatSeconds": binding.heartbeat_seconds,
    }
    given = hook_bindings.properties_for_drain(binding, seconds)
    execution_input = executions.hook_drain_input(given, lifecycle, batch.opened_at, name)
    started = executions.start(sfn_client(), required(env.state_machine, STATE_MACHINE), name, execution_input)
    hook_bindings.take(dynamodb, table, token, now)
    metrics.add_metric(name="LifecycleActions", unit="Count", value=1)
    logger.info("The instance joined its batch's drain", extra={"batch": batch.number, "execution": started.arn})
    return {"executionArn": started.arn}
