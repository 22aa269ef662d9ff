"""The TaskStoppedFunction: an ECS Task State Change (lastStatus STOPPED) takes the task off its drain's watch."""

from __future__ import annotations

from typing import Any

from ..aws import watch
from ..aws.clients import dynamodb_client, sfn_client
from ..model.arns import last_part
from ..model.events import TaskStateChange
from ..runtime.environment import WATCH_TABLE, Environment, required
from ..runtime.observability import logger


@logger.inject_lambda_context(clear_state=True)
def handler(event: TaskStateChange, context: Any) -> bool:  # noqa: ARG001
    """True where the event woke a drain (its last watched task). Events of tasks no drain watches change nothing."""
    detail = event["detail"]
    if detail.get("lastStatus") != "STOPPED":  # the rule's pattern sends only these; a copy of another is ignored
        return False
    task_id = last_part(detail["taskArn"])
    woken = watch.task_stopped(
        dynamodb_client(), sfn_client(), required(Environment.read().watch_table, WATCH_TABLE), task_id
    )
    if woken:
        logger.info("The last watched task of a drain stopped: its next check starts now", extra={"task": task_id})
    return woken
