"""The Custom::ECSDrain provider: validates on Create/Update; on Delete starts the drain and does not answer."""

from __future__ import annotations

import os
from functools import cache
from typing import Any

from crhelper import CfnResource

from .. import cfn_answer, clock, executions, reason
from ..arns import last_part
from ..aws import ecs_client, sfn_client, ssm_client
from ..events import CustomResourceRequest
from ..observability import log_metrics, logger, metrics, tracer
from ..properties import DrainProperties, InvalidProperties, is_ours, parse, physical_resource_id
from ..state import PREVIOUS_ATTEMPT_KEY, REQUEST_KEY

STATE_MACHINE_VARIABLE = "STATE_MACHINE_ARN"
PARAMETER_PREFIX_VARIABLE = "RESPONSE_PARAMETER_PREFIX"
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


@cache
def resource() -> AnsweringResource:
    # Built on first use: crhelper makes boto3 clients in its constructor. Its DEBUG log prints the
    # whole event, ResponseURL included, so it stays at WARNING.
    helper = AnsweringResource(json_logging=False, log_level="WARNING", boto_level="WARNING", sleep_on_delete=0)
    helper.create(on_create)
    helper.update(on_update)
    helper.delete(on_foreign_delete)
    return helper


def on_create(event: CustomResourceRequest, _context: Any) -> str:
    props = parse(event.get("ResourceProperties"))
    _require_cluster(props)
    return physical_resource_id(props)


def on_update(event: CustomResourceRequest, _context: Any) -> str:
    props = parse(event.get("ResourceProperties"))
    old = event.get("OldResourceProperties") or {}
    if last_part(str(old.get("Cluster", ""))) != props.cluster_name:
        _require_cluster(props)
    # A new id means replacement: CloudFormation then sends Delete for the old one, which drains it.
    return physical_resource_id(props)


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
    name = executions.execution_name(event["StackId"], event["LogicalResourceId"], event["RequestId"])
    logger.append_keys(execution_name=name)
    request = cfn_answer.CloudFormationRequest(
        stack_id=event["StackId"],
        request_id=event["RequestId"],
        logical_resource_id=event["LogicalResourceId"],
        physical_resource_id=event["PhysicalResourceId"],
        response_parameter=cfn_answer.response_parameter_name(
            os.environ.get(PARAMETER_PREFIX_VARIABLE, cfn_answer.DEFAULT_PARAMETER_PREFIX), name
        ),
    )
    cfn_answer.keep_response_url(ssm_client(), request.response_parameter, event["ResponseURL"])
    execution_input = {
        **executions.drain_input(_properties_input(event), props, clock.now()),
        REQUEST_KEY: request.to_json(),
    }
    sfn, state_machine = sfn_client(), os.environ[STATE_MACHINE_VARIABLE]
    previous = executions.previous_blocked(sfn, state_machine, name, execution_input[REQUEST_KEY], clock.now())
    if previous is not None:
        execution_input[PREVIOUS_ATTEMPT_KEY] = previous
        logger.info("A previous attempt was blocked", extra={"previous_execution": previous["execution"]})
    started = executions.start(sfn, state_machine, name, execution_input)
    if started.closed:
        # A repeated delivery of a request whose drain has answered already: nothing will read the URL again.
        cfn_answer.forget_response_url(ssm_client(), request.response_parameter)
        logger.info("The drain for this request has ended already", extra={"execution_arn": started.arn})
        metrics.add_metric(name="RepeatedRequests", unit="Count", value=1)
        return None
    logger.info("Drain started", extra={"execution_arn": started.arn, "target": props.target_kind})
    return {"executionArn": started.arn}


def _properties_input(event: CustomResourceRequest) -> dict[str, Any]:
    # The same property names a person uses to start a drain by hand; ServiceToken is noise there.
    raw = dict(event.get("ResourceProperties") or {})
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
