"""The LifecycleHookFunction: Auto Scaling holds an instance on a hook a Custom::ECSDrain bound; the instance joins
its group's open batch, and the batch's execution starts (once for the batch, however many events): on a
termination hook, the batch's drain; on a launch hook, the batch's check. Its schedule (every minute while a hook is
bound) reads the bound groups for held instances whose event was lost."""

from __future__ import annotations

from typing import Any

from ..aws import executions, hook_bindings
from ..aws.clients import autoscaling_client, dynamodb_client, sfn_client
from ..decisions.hook_rules import GATHER_SECONDS, HELD_STATES, LAUNCHING, hook_drain_seconds
from ..decisions.properties import parse
from ..model.events import LifecycleAction
from ..model.state import ExecutionInput, LifecycleBatch
from ..runtime import clock
from ..runtime.environment import STATE_MACHINE, WATCH_TABLE, Environment, required
from ..runtime.observability import log_metrics, logger, metrics, tracer

SCHEDULED = "Scheduled Event"


@logger.inject_lambda_context(clear_state=True)
@log_metrics
@tracer.capture_lambda_handler
def handler(event: LifecycleAction, context: Any) -> dict[str, Any] | None:  # noqa: ARG001
    """The drain or check the instance joined ({"executionArn": ...}), or the instances a read found ({"found": n});
    None where the hook is not bound, or the event is a copy of one taken already."""
    if event.get("detail-type") == SCHEDULED:
        return {"found": find_held_instances()}
    detail = event.get("detail") or {}
    group, hook = detail.get("AutoScalingGroupName", ""), detail.get("LifecycleHookName", "")
    instance = detail.get("EC2InstanceId", "")
    logger.append_keys(group=group, hook=hook, instance=instance, action=detail.get("Action"))
    transition = detail.get("LifecycleTransition")
    if transition not in HELD_STATES or not (group and hook and instance):
        logger.info("Not a lifecycle action of a launch or termination: nothing to do")
        return None
    table = required(Environment.read().watch_table, WATCH_TABLE)
    binding = hook_bindings.binding_of(dynamodb_client(), table, group, hook, clock.now())
    if binding is None or binding.transition != transition:
        logger.info("No Custom::ECSDrain binds this hook: nothing to do")
        return None
    arn = join_drain(binding, instance, detail.get("LifecycleActionToken"))
    return None if arn is None else {"executionArn": arn}


def join_drain(binding: hook_bindings.Binding, instance: str, token: str | None) -> str | None:
    """Put the held instance into its batch and start the batch's drain or check (once): its ARN; None where the
    instance was taken already."""
    env, dynamodb, now = Environment.read(), dynamodb_client(), clock.now()
    table = required(env.watch_table, WATCH_TABLE)
    if hook_bindings.taken(dynamodb, table, binding, instance, token):
        logger.info("Taken already: a copy of its event, or found by a read", extra={"instance": instance})
        return None
    batch = hook_bindings.join_batch(dynamodb, table, binding, instance, now)
    name = executions.hook_execution_name(binding.group, binding.hook, batch.number)
    lifecycle: LifecycleBatch = {
        "AutoScalingGroupName": binding.group,
        "LifecycleHookName": binding.hook,
        "batch": batch.number,
        "gatherSeconds": GATHER_SECONDS,
        "heartbeatSeconds": binding.heartbeat_seconds,
    }
    execution_input = _batch_input(binding, lifecycle, batch.opened_at, name)
    started = executions.start(sfn_client(), required(env.state_machine, STATE_MACHINE), name, execution_input)
    hook_bindings.take(dynamodb, table, binding, instance, token, now)
    metrics.add_metric(name="LifecycleActions", unit="Count", value=1)
    logger.info("The instance joined its batch", extra={"batch": batch.number, "execution": started.arn})
    return started.arn


def _batch_input(
    binding: hook_bindings.Binding, lifecycle: LifecycleBatch, opened_at: float, name: str
) -> ExecutionInput:
    """A launch hook's batch is checked (a preflight of its instances); a termination hook's is drained."""
    props = parse(binding.properties)
    if binding.transition == LAUNCHING:
        given = hook_bindings.properties_for_check(binding)
        return executions.launch_check_input(given, props, lifecycle, opened_at, name)
    given = hook_bindings.properties_for_drain(binding, hook_drain_seconds(props, binding.heartbeat_seconds))
    return executions.hook_drain_input(given, lifecycle, opened_at, name)


def find_held_instances() -> int:
    """Every bound group's instances held by its bound hooks (Terminating:Wait, Pending:Wait) that no event brought
    (Auto Scaling delivers its events best effort) join their batch; a binding that has ended is forgotten. How many
    were found."""
    table, dynamodb, now = required(Environment.read().watch_table, WATCH_TABLE), dynamodb_client(), clock.now()
    bindings = []
    for group, hook in hook_bindings.bound_hooks(dynamodb, table):
        binding = hook_bindings.binding_of(dynamodb, table, group, hook, now)
        if binding is None:
            hook_bindings.forget_bound(dynamodb, table, group, hook)
        else:
            bindings.append(binding)
    if not bindings:
        return 0
    held = hook_bindings.held_instances(autoscaling_client(), [b.group for b in bindings])
    found = sum(
        1
        for b in bindings
        for instance in held[b.group].get(b.held_state, [])
        if join_drain(b, instance, None) is not None
    )
    if found:
        logger.warning("Found held instances whose event never came", extra={"instances": found})
        metrics.add_metric(name="LostLifecycleEvents", unit="Count", value=found)
    return found
