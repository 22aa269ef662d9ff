"""The Custom::ECSDrain provider: validates on Create/Update; on Delete starts the drain and does not answer."""

from __future__ import annotations

import threading
from typing import Any, Literal

from botocore.exceptions import BotoCoreError, ClientError
from crhelper import CfnResource

from ..aws import cfn_answer, executions, hook_bindings, stack
from ..aws.clients import (
    autoscaling_client,
    cloudformation_client,
    dynamodb_client,
    ecs_client,
    events_client,
    sfn_client,
    ssm_client,
)
from ..decisions import reason
from ..decisions.properties import DrainProperties, InvalidProperties, is_ours, parse, physical_resource_id
from ..model.arns import last_part
from ..model.events import CustomResourceRequest
from ..model.state import PREVIOUS_ATTEMPT_KEY, REQUEST_KEY, ExecutionInput
from ..runtime import clock
from ..runtime.environment import STATE_MACHINE, WATCH_TABLE, Environment, required
from ..runtime.observability import log_metrics, logger, metrics, tracer
from ..steps import hooks

REQUEST_TYPES = ("Create", "Update", "Delete")
REQUIRED_FIELDS = ("StackId", "RequestId", "LogicalResourceId", "ResponseURL")


class AnsweringResource(CfnResource):
    """crhelper, answering through the project's bounded https PUT rather than its own endless retry."""

    _response_url: str

    def _send(self, status: str | None = None, reason: str = "", send_response: Any = None) -> None:  # noqa: ARG002
        request = cfn_answer.RequestIdentity(
            self.StackId, self.RequestId, self.LogicalResourceId, str(self.PhysicalResourceId)
        )
        _answer(self._response_url, request, status or self.Status, reason if status else self.Reason, self.Data)


# crhelper keeps the request it answers on its instance: one per Lambda container, which runs one invocation at a
# time. Where invocations run side by side in one process (the emulation's threads, each a container), each thread
# keeps its own, or two Updates at once would answer with each other's ids.
_container = threading.local()


def resource() -> AnsweringResource:
    helper: AnsweringResource | None = getattr(_container, "helper", None)
    if helper is None:
        # Built on first use: crhelper makes boto3 clients in its constructor. Its DEBUG log prints the
        # whole event, ResponseURL included, so it stays at WARNING.
        helper = AnsweringResource(json_logging=False, log_level="WARNING", boto_level="WARNING", sleep_on_delete=0)
        helper.create(on_create)
        helper.update(on_update)
        helper.delete(on_foreign_delete)
        _container.helper = helper
    return helper


def on_create(event: CustomResourceRequest, _context: Any) -> str:
    props = parse(event.get("ResourceProperties"))
    _require_cluster(props)
    bind_hooks(event, props)
    return physical_resource_id(props)


def on_update(event: CustomResourceRequest, _context: Any) -> str:
    props = parse(event.get("ResourceProperties"))
    old = event.get("OldResourceProperties") or {}
    if last_part(str(old.get("Cluster", ""))) != props.cluster_name:
        _require_cluster(props)
    bind_hooks(event, props)
    # A new id means replacement: CloudFormation then sends Delete for the old one, which drains it.
    return physical_resource_id(props)


def bind_hooks(event: CustomResourceRequest, props: DrainProperties) -> None:
    """With TerminationHook or LaunchHook: check each hook on the group and record its binding where the
    LifecycleHookFunction finds it; a hook the Update no longer names (or of a group it no longer names) is let go."""
    old = _bound_hooks(event.get("OldResourceProperties"))
    if props.termination_hook is None and props.launch_hook is None and not old:
        return
    table, now = required(Environment.read().watch_table, WATCH_TABLE), clock.now()
    bindings = _checked_bindings(props, _properties_input(event, "ResourceProperties"))
    for binding in bindings:
        hook_bindings.bind(dynamodb_client(), table, binding, now)
        logger.info("Bound the hook", extra={"group": binding.group, "hook": binding.hook})
    if bindings:
        _switch_on_held_instance_reads()
    for group, hook in old - {(b.group, b.hook) for b in bindings}:
        hook_bindings.end_binding(dynamodb_client(), table, group, hook, now)


def _checked_bindings(props: DrainProperties, given: dict[str, Any]) -> list[hook_bindings.Binding]:
    """The hooks the properties name, as the group has them; InvalidProperties naming every problem of either."""
    found, problems = hooks.named_hooks(props, autoscaling_client(), ecs_client())
    if problems:
        raise InvalidProperties(problems)
    group = props.target[0]
    return [hook_bindings.Binding(group, h.name, given, h.heartbeat_seconds, transition) for transition, h in found]


def _switch_on_held_instance_reads() -> None:
    """The reads that find held instances whose event was lost run from the first binding on. Trouble is a warning:
    the events still come (best effort)."""
    rule = Environment.read().held_instances_rule
    if rule:
        try:
            events_client().enable_rule(Name=rule)
        except (ClientError, BotoCoreError) as error:
            logger.warning("The reads for held instances could not be switched on", extra={"error": repr(error)})


def _bound_hooks(raw: dict[str, Any] | None) -> set[tuple[str, str]]:
    """The group and hooks the properties bound, if they were valid and named any."""
    try:
        props = parse(raw)
    except InvalidProperties:
        return set()
    return {(props.target[0], hook) for hook in (props.termination_hook, props.launch_hook) if hook is not None}


def on_foreign_delete(_event: CustomResourceRequest, _context: Any) -> None:
    """A Delete for an id this provider never gave out (a failed Create rolled back): nothing to drain."""
    logger.info("Delete of a resource that was never created; answering SUCCESS")


@logger.inject_lambda_context(clear_state=True)
@log_metrics
@tracer.capture_lambda_handler
def handler(event: CustomResourceRequest, context: Any) -> dict[str, Any] | None:
    logger.append_keys(
        stack_id=event.get("StackId"),
        logical_resource_id=event.get("LogicalResourceId"),
        request_id=event.get("RequestId"),
        request_type=event.get("RequestType"),
    )
    try:
        request_type = event.get("RequestType")
        metrics.add_metric(name="Requests", unit="Count", value=1)
        if request_type not in REQUEST_TYPES:
            _answer_event(event, "FAILED", reason.unknown_request_type(request_type, REQUEST_TYPES))
            return None
        missing = [field for field in REQUIRED_FIELDS if not event.get(field)]
        if missing:
            _answer_event(event, "FAILED", reason.not_from_cloudformation(missing))
            return None
        if not cfn_answer.is_https(event["ResponseURL"]):
            # It could never be answered: drain nothing, start nothing, keep nothing.
            logger.error("Refused a request whose ResponseURL is not https")
            metrics.add_metric(name="RefusedRequests", unit="Count", value=1)
            return None
        if request_type == "Delete" and is_ours(event.get("PhysicalResourceId")):
            return start_drain(event)
        if request_type == "Update" and (replacing := preflight_needed(event)) is not None:
            return start_preflight(event, *replacing)
        resource()(event, context)
    except Exception as error:  # the runtime must never be left to answer (it would not)
        logger.exception("Custom resource request failed")
        _answer_event(event, "FAILED", reason.provider_failed(error))
    return None


def start_drain(event: CustomResourceRequest) -> dict[str, Any] | None:
    """Start the drain and return without answering: the state machine answers when the drain ends."""
    try:
        props = parse(event.get("ResourceProperties"))
    except InvalidProperties as error:
        _answer_event(event, "SUCCESS", reason.nothing_drained(error))
        return None
    for group, hook in _bound_hooks(event.get("ResourceProperties")):  # its last terminations still drain a while
        table = required(Environment.read().watch_table, WATCH_TABLE)
        hook_bindings.end_binding(dynamodb_client(), table, group, hook, clock.now())
    if props.target_kind != "InstanceIds" and stack.target_stays(
        cloudformation_client(), event["StackId"], props.target[0]
    ):
        # The resource was removed from the template and its target kept: the target is not going away.
        logger.info("The target stays in the stack: nothing drained", extra={"target": props.target[0]})
        _answer_event(event, "SUCCESS", reason.target_stays(props.target_name))
        return None
    name = executions.execution_name(event["StackId"], event["LogicalResourceId"], event["RequestId"])
    logger.append_keys(execution_name=name)
    request = _request(event, name)
    execution_input = executions.drain_input(_properties_input(event, "ResourceProperties"), props, clock.now(), name)
    execution_input[REQUEST_KEY] = request.to_json()
    sfn, state_machine = sfn_client(), required(Environment.read().state_machine, STATE_MACHINE)
    previous = executions.previous_blocked(sfn, state_machine, name, execution_input[REQUEST_KEY], clock.now())
    if previous is not None:
        execution_input[PREVIOUS_ATTEMPT_KEY] = previous
        logger.info("A previous attempt was blocked", extra={"previous_execution": previous["execution"]})
    return _start(request, name, execution_input, f"Drain of {props.target_kind}")


def preflight_needed(event: CustomResourceRequest) -> tuple[DrainProperties, str] | None:
    """The new properties and the new PhysicalResourceId, when this Update replaces the target and its preflight is
    on; None otherwise (crhelper then answers it at once, as every other Update: a rollback's reverse Update keeps
    its id, and invalid properties fail there with their own message)."""
    old_id = event.get("PhysicalResourceId")
    try:
        props = parse(event.get("ResourceProperties"))
        old = parse(event.get("OldResourceProperties"))
    except InvalidProperties:
        return None
    new_id = physical_resource_id(props)
    if props.preflight == "OFF" or not is_ours(old_id) or new_id == old_id or old.cluster_name != props.cluster_name:
        return None
    if stack.is_rolling_back(cloudformation_client(), event["StackId"]):
        return None  # never hold up, let alone fail, a rollback
    return props, new_id


def start_preflight(event: CustomResourceRequest, props: DrainProperties, new_id: str) -> dict[str, Any] | None:
    """Start the preflight and return without answering: it answers the Update, SUCCESS with the new id or FAILED
    with the old one (CloudFormation then rolls back)."""
    name = executions.execution_name(event["StackId"], event["LogicalResourceId"], event["RequestId"], preflight=True)
    logger.append_keys(execution_name=name)
    bind_hooks(event, props)
    request = _request(event, name, new_id)
    given, old_given = _properties_input(event, "ResourceProperties"), _properties_input(event, "OldResourceProperties")
    execution_input = executions.preflight_input(given, old_given, props, clock.now(), name)
    execution_input[REQUEST_KEY] = request.to_json()
    return _start(request, name, execution_input, f"Preflight of {props.target_kind}")


def _request(event: CustomResourceRequest, name: str, new_id: str = "") -> cfn_answer.CloudFormationRequest:
    """The request an execution answers, its ResponseURL kept in SSM under the execution's name."""
    request = cfn_answer.CloudFormationRequest(
        stack_id=event["StackId"],
        request_id=event["RequestId"],
        logical_resource_id=event["LogicalResourceId"],
        physical_resource_id=event["PhysicalResourceId"],
        response_parameter=cfn_answer.response_parameter_name(
            Environment.read().response_parameter_prefix or cfn_answer.DEFAULT_PARAMETER_PREFIX, name
        ),
        new_physical_resource_id=new_id,
    )
    cfn_answer.keep_response_url(ssm_client(), request.response_parameter, event["ResponseURL"])
    return request


def _start(
    request: cfn_answer.CloudFormationRequest,
    name: str,
    execution_input: ExecutionInput,
    what: str,
) -> dict[str, Any] | None:
    sfn, state_machine = sfn_client(), required(Environment.read().state_machine, STATE_MACHINE)
    started = executions.start(sfn, state_machine, name, execution_input)
    if started.closed:
        # A repeated delivery of a request whose execution has answered already: nothing will read the URL again.
        cfn_answer.forget_response_url(ssm_client(), request.response_parameter)
        logger.info("The execution for this request has ended already", extra={"execution_arn": started.arn})
        metrics.add_metric(name="RepeatedRequests", unit="Count", value=1)
        return None
    logger.info(f"{what} started", extra={"execution_arn": started.arn})
    return {"executionArn": started.arn}


def _properties_input(
    event: CustomResourceRequest, key: Literal["ResourceProperties", "OldResourceProperties"]
) -> dict[str, Any]:
    # The same property names a person uses to start a drain by hand; ServiceToken is noise there.
    raw: dict[str, Any] = dict(event.get(key) or {})
    raw.pop("ServiceToken", None)
    return raw


def _require_cluster(props: DrainProperties) -> None:
    clusters = ecs_client().describe_clusters(clusters=[props.cluster]).get("clusters", [])
    if not any(c.get("status") == "ACTIVE" for c in clusters):
        raise ValueError(reason.cluster_not_found(props.cluster))


def _answer_event(event: CustomResourceRequest, status: str, reason: str) -> None:
    # A request that never had a resource (a failed Create) gets an id of its own, as crhelper would give it.
    failed_id = f"ecs-drain-failed-{event.get('RequestId', '')}"
    request = cfn_answer.RequestIdentity.of_event(event, str(event.get("PhysicalResourceId") or failed_id))
    _answer(event.get("ResponseURL"), request, status, reason)


def _answer(
    url: object, request: cfn_answer.RequestIdentity, status: str, reason: str, data: dict[str, Any] | None = None
) -> None:
    if not isinstance(url, str) or not url:
        logger.error("The event has no ResponseURL: CloudFormation cannot be answered")
        return
    try:
        cfn_answer.send(url, request, status, reason, data)
        logger.info("Answered CloudFormation", extra={"status": status})
    except cfn_answer.AnswerError as error:
        logger.error("Could not answer CloudFormation", extra={"error": str(error)})
        metrics.add_metric(name="AnswerFailures", unit="Count", value=1)
